import { setTimeout as sleep } from 'node:timers/promises';
import {
  cloudEventCodec,
  createEvent,
  type BrokerEvent,
  type BrokerLogger,
  type ConsumerSpec,
  type Delivery,
  type FlowControl,
} from 'nestjs-event-broker';
import { GroupConsumer, type HandedOut, type ReceivedMessage } from 'nestjs-event-broker/transport-kit';
import type { LogEngine } from './log-engine.js';

/** How long an empty read waits before the loop reads again. */
const POLL_MS = 20;

/** One consumer of one group of the log: its messages are log sequence numbers. */
export class LogGroupConsumer extends GroupConsumer<number> {
  constructor(
    private readonly engine: LogEngine,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
    logger: BrokerLogger,
    private readonly leaseMs: number,
  ) {
    super(spec, onDelivery, flow, { transportName: 'Log', logger, codec: cloudEventCodec, leaseMs });
  }

  protected async receive(count: number, signal: AbortSignal): Promise<void> {
    const claimed = this.engine.read(this.spec.group, this.spec.consumerName, count, this.leaseMs);
    if (claimed.length === 0) return sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
    await this.dispatch(
      claimed.map(({ seq, deliveries }) => ({
        message: seq,
        key: String(seq),
        description: `entry ${seq}`,
        attempt: deliveries,
        ...this.engine.log[seq],
      })),
    );
  }

  /** The first delivery of an event makes it `processing`; one another program appended enters the history here. */
  protected override handingOut(messages: readonly HandedOut<number>[]): void {
    for (const { event } of messages) {
      this.engine.remember(event);
      if (this.engine.history.get(event.id)?.event.status === 'pending')
        this.engine.update(event.id, { status: 'processing', processedAt: new Date() });
    }
  }

  protected async ack({ message }: ReceivedMessage<number>, event: BrokerEvent): Promise<void> {
    this.engine.settle(this.spec.group, [message]);
    this.engine.acked(this.spec.group, event.id);
  }

  protected async retryLater({ message }: ReceivedMessage<number>, _event: BrokerEvent, delayMs: number): Promise<void> {
    this.engine.postpone(this.spec.group, [message], delayMs);
  }

  /** An unreadable entry is kept as a `system` event whose payload is the body as it was read. */
  protected async deadLetter(
    { message, body }: ReceivedMessage<number>,
    error: string,
    attempts: number,
    event?: BrokerEvent,
  ): Promise<void> {
    event ??= createEvent({ type: 'log.entry.unreadable', source: 'system', payload: body, instanceId: this.spec.consumerName });
    this.engine.deadLetter(this.spec.group, message, event, error, attempts);
  }

  protected async pass(messages: readonly number[]): Promise<void> {
    this.engine.settle(this.spec.group, messages);
  }

  protected async renewLeases(messages: readonly number[]): Promise<void> {
    this.engine.renew(this.spec.group, messages, this.leaseMs);
  }

  protected async giveBack(messages: readonly number[]): Promise<void> {
    this.engine.postpone(this.spec.group, messages, 0);
  }
}
