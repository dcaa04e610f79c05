import { headers as createHeaders, type Consumer as JsConsumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from 'nats';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { GroupConsumer, type HandedOut } from '../group-consumer.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import { settledStatus, type NatsHistory } from './nats-history.js';
import { encodeName, HEADER_ATTEMPTS, HEADER_DEAD_AT, HEADER_ERROR, HEADER_GROUP, HEADER_ONLY, HEADER_SKIP } from './nats-names.js';
import { errorMessage } from '../../core/error-message.js';

export interface NatsConsumerContext {
  js: JetStreamClient;
  history: NatsHistory;
  /** Subject prefix of dead letters: `<prefix>.<encoded group>`. */
  deadLetterPrefix: string;
  ackWaitMs: number;
  fetchExpiresMs: number;
  logger: BrokerLogger;
  codec: EventCodec;
}

/** How long a delivery stays unsettled before its event is recorded as `processing`. */
export const PROCESSING_MARK_DELAY_MS = 1000;

/** How a delivery of an event to a group ended. */
export interface SettledOutcome {
  outcome: 'done' | 'failed';
  error?: string;
  /** The highest retry count seen. */
  retryCount?: number;
  /** When the handler started: the record's `processedAt` unless it was marked processing before. */
  startedAt?: number;
}

/** Records a group's outcome for an event and derives the event's status from all of them. */
export async function recordOutcome(history: NatsHistory, eventId: string, group: string, settled: SettledOutcome): Promise<void> {
  const { outcome, error, retryCount, startedAt = Date.now() } = settled;
  await history.update(eventId, (record) => {
    if (outcome === 'done' && record.groups[group] !== 'pending') return false;
    record.groups[group] = outcome;
    record.processedAt ??= startedAt;
    if (retryCount !== undefined) record.retryCount = Math.max(record.retryCount, retryCount);
    if (error !== undefined) record.error = error;
    const status = settledStatus(record);
    if (status && status !== record.status) {
      record.status = status;
      if (status === 'completed') record.completedAt = Date.now();
    } else if (!status && record.status === 'pending') {
      // A group is done and others are not: the event is being processed, marked or not.
      record.status = 'processing';
    }
    return true;
  });
}

/** Publishes a dead letter of `group` with the error and the number of attempts. */
export async function publishDeadLetter(
  context: NatsConsumerContext,
  group: string,
  body: string,
  error: string,
  attempts: number,
): Promise<void> {
  const headers = createHeaders();
  headers.set(HEADER_GROUP, group);
  headers.set(HEADER_ERROR, error.replace(/[\r\n]+/g, ' '));
  headers.set(HEADER_ATTEMPTS, String(attempts));
  headers.set(HEADER_DEAD_AT, String(Date.now()));
  await context.js.publish(`${context.deadLetterPrefix}.${encodeName(group)}`, body, { headers });
}

/** A delivery's `processing` mark: when its handler started, the timer, and the write once it was due. */
interface ProcessingMark {
  startedAt: number;
  timer: NodeJS.Timeout;
  marking?: Promise<void>;
}

/**
 * One consumer of one group: pulls as many messages from the group's durable consumer as the
 * worker pool has room for, and keeps those it works on alive with `working()`.
 */
export class NatsGroupConsumer extends GroupConsumer<JsMsg> {
  private batch?: ConsumerMessages;
  private readonly marks = new Map<JsMsg, ProcessingMark>();

  constructor(
    private readonly context: NatsConsumerContext,
    private readonly consumer: JsConsumer,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
  ) {
    super(spec, onDelivery, flow, { transportName: 'NATS', logger: context.logger, codec: context.codec, leaseMs: context.ackWaitMs });
  }

  protected override interrupt(): void {
    this.batch?.stop();
    for (const { timer } of this.marks.values()) clearTimeout(timer);
  }

  protected async receive(count: number): Promise<void> {
    this.batch = await this.consumer.fetch({ max_messages: count, expires: this.context.fetchExpiresMs });
    for await (const message of this.batch) {
      await this.dispatch([
        {
          message,
          key: String(message.seq),
          description: `${message.seq} on ${message.subject}`,
          attempt: message.info.redeliveryCount,
          body: message.string(),
          only: message.headers?.get(HEADER_ONLY) || undefined,
          skip: message.headers?.get(HEADER_SKIP)?.split(','),
        },
      ]);
    }
  }

  /**
   * A key-value write per message would cost a third of the throughput, and most deliveries are
   * settled before anyone could read it: `processing` is recorded only for a delivery still
   * unsettled after `PROCESSING_MARK_DELAY_MS` (queued behind busy workers, or a long handler).
   * Settling waits for that write, so that the two updates of the record do not collide.
   */
  protected override handingOut(messages: readonly HandedOut<JsMsg>[]): void {
    for (const { received, event } of messages) {
      const startedAt = Date.now();
      const mark: ProcessingMark = {
        startedAt,
        timer: setTimeout(() => {
          if (!this.abort.signal.aborted) mark.marking = this.markProcessing(event.id, startedAt);
        }, PROCESSING_MARK_DELAY_MS).unref(),
      };
      this.marks.set(received.message, mark);
    }
  }

  /** Ends the mark of a settled message: the time its handler started, once its mark is written. */
  private async settleMark(message: JsMsg): Promise<number> {
    const mark = this.stopMark(message);
    await mark?.marking;
    return mark?.startedAt ?? Date.now();
  }

  /** Stops the mark's timer, as soon as its delivery settles: a mark still to come is not written. */
  private stopMark(message: JsMsg): ProcessingMark | undefined {
    const mark = this.marks.get(message);
    if (!mark) return undefined;
    this.marks.delete(message);
    clearTimeout(mark.timer);
    return mark;
  }

  /** Records that the handler of `event` has been running since `startedAt`. */
  private markProcessing(eventId: string, startedAt: number): Promise<void> {
    return this.context.history
      .update(eventId, (record) => {
        if (record.status !== 'pending') return false;
        record.status = 'processing';
        record.processedAt = startedAt;
        return true;
      })
      .then(
        () => undefined,
        (error: unknown) => this.context.logger.warn(`Could not mark event ${eventId} processing: ${errorMessage(error)}`),
      );
  }

  // An outcome is recorded before its message is acked or terminated: a process that dies in
  // between gets the message delivered again (a duplicate) instead of leaving the event pending for good.
  protected async ack({ message }: ReceivedMessage<JsMsg>, event: BrokerEvent): Promise<void> {
    const startedAt = await this.settleMark(message);
    await recordOutcome(this.context.history, event.id, this.spec.group, { outcome: 'done', startedAt });
    message.ack();
  }

  protected async retryLater({ message, attempt }: ReceivedMessage<JsMsg>, event: BrokerEvent, delayMs: number): Promise<void> {
    message.nak(delayMs);
    await this.settleMark(message);
    await this.context.history.update(event.id, (record) => {
      if (record.retryCount >= attempt) return false;
      record.retryCount = attempt;
      return true;
    });
  }

  protected async deadLetter(
    { message, body }: ReceivedMessage<JsMsg>,
    error: string,
    attempts: number,
    event?: BrokerEvent,
  ): Promise<void> {
    const mark = this.stopMark(message);
    await publishDeadLetter(this.context, this.spec.group, body ?? '', error, attempts);
    if (!event) {
      message.ack();
      return;
    }
    await mark?.marking;
    const startedAt = mark?.startedAt ?? Date.now();
    await recordOutcome(this.context.history, event.id, this.spec.group, { outcome: 'failed', error, retryCount: attempts - 1, startedAt });
    message.term();
  }

  protected async pass(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) message.ack();
  }

  protected async renewLeases(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) message.working();
  }

  /** Naks the messages without delay, so another instance takes them over at once. */
  protected async giveBack(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) {
      this.stopMark(message);
      message.nak();
    }
  }
}
