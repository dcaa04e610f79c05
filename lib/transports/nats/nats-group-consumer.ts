import type { JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { GroupConsumer, type HandedOut } from '../group-consumer.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import type { NatsDeadLetters } from './nats-dead-letters.js';
import { HEADER_ONLY, HEADER_REPLAY_OF, HEADER_SKIP } from './nats-names.js';
import type { NatsProgress } from './nats-progress.js';
import { NatsPullSubscription } from './nats-pull-subscription.js';

export interface NatsConsumerContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The events stream. */
  stream: string;
  progress: NatsProgress;
  deadLetters: NatsDeadLetters;
  ackWaitMs: number;
  fetchExpiresMs: number;
  logger: BrokerLogger;
  codec: EventCodec;
}

/** The sequence of the event a message carries: a replayed copy's is the one of the event it copies. */
function eventSeq(message: JsMsg): number {
  return Number(message.headers?.get(HEADER_REPLAY_OF)) || message.seq;
}

/**
 * One consumer of one group: pulls as many messages from the group's durable consumer as the
 * worker pool has room for, and keeps those it works on alive with `working()`. Settling a
 * delivery is the engine's own: an ack, a delayed nak, a dead letter and a terminate; the
 * progress stream gets one record per batch of hand-outs and of acks.
 */
export class NatsGroupConsumer extends GroupConsumer<JsMsg> {
  private readonly pulls = new NatsPullSubscription();

  constructor(
    private readonly context: NatsConsumerContext,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
  ) {
    super(spec, onDelivery, flow, { transportName: 'NATS', logger: context.logger, codec: context.codec, leaseMs: context.ackWaitMs });
  }

  /** Subscribes to the group's durable consumer `durable`, whose filter is `filterSubject`. */
  async subscribe(durable: string, filterSubject: string): Promise<void> {
    await this.pulls.open(this.context.js, this.context.stream, durable, filterSubject);
  }

  /** Gives back at once what came and was not handed out. */
  protected override interrupt(): void {
    for (const message of this.pulls.close()) message.nak();
  }

  protected async receive(count: number, signal: AbortSignal): Promise<void> {
    await this.pulls.take(count, this.context.fetchExpiresMs, signal, (message) =>
      this.dispatch([
        {
          message,
          key: String(message.seq),
          description: `${message.seq} on ${message.subject}`,
          attempt: message.info.redeliveryCount,
          body: message.string(),
          only: message.headers?.get(HEADER_ONLY) || undefined,
          skip: message.headers?.get(HEADER_SKIP)?.split(','),
        },
      ]),
    );
  }

  protected override handingOut(messages: readonly HandedOut<JsMsg>[]): void {
    for (const { received } of messages) this.context.progress.start(this.spec.group, eventSeq(received.message), received.attempt);
  }

  protected async ack({ message }: ReceivedMessage<JsMsg>): Promise<void> {
    await this.context.progress.ack(this.spec.group, eventSeq(message), message);
    await this.forgetCopy(message);
  }

  protected async retryLater({ message }: ReceivedMessage<JsMsg>, _event: BrokerEvent, delayMs: number): Promise<void> {
    message.nak(delayMs);
  }

  // The dead letter is stored before the message is terminated: a process that dies in between
  // gets the message delivered again (a duplicate dead letter) instead of losing the failure.
  protected async deadLetter(
    { message, body }: ReceivedMessage<JsMsg>,
    error: string,
    attempts: number,
    event?: BrokerEvent,
  ): Promise<void> {
    await this.context.deadLetters.add(this.spec.group, eventSeq(message), body ?? '', error, attempts);
    if (event) message.term();
    else message.ack();
    await this.forgetCopy(message);
  }

  protected async pass(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) message.ack();
  }

  protected async renewLeases(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) message.working();
  }

  /** Naks the messages without delay, so another instance takes them over at once. */
  protected async giveBack(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) message.nak();
  }

  /** A replayed copy has done its work once settled: the event's own message stays the history. */
  private async forgetCopy(message: JsMsg): Promise<void> {
    if (!message.headers?.get(HEADER_ONLY)) return;
    await this.context.jsm.streams.deleteMessage(this.context.stream, message.seq, false).catch((error: unknown) => {
      this.context.logger.warn(`Could not delete the replayed copy ${message.seq} from ${this.context.stream}: ${errorMessage(error)}`);
    });
  }
}
