import { headers as createHeaders, type Consumer as JsConsumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from 'nats';
import { repeatUntilAborted } from '../../core/async-primitives.js';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { matchAnyPattern } from '../../core/match-pattern.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { Consumer, ConsumerSpec, Delivery, FlowControl } from '../event-transport.interface.js';
import { UnsettledDeliveries } from '../unsettled-deliveries.js';
import { settledStatus, type NatsHistory } from './nats-history.js';
import { encodeName, HEADER_ATTEMPTS, HEADER_DEAD_AT, HEADER_ERROR, HEADER_GROUP, HEADER_ONLY, HEADER_SKIP } from './nats-names.js';
import { errorMessage } from '../../core/error-message.js';
import { printable } from '../../core/quote-input.js';

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

/**
 * One consumer of one group: pulls as many messages from the group's durable consumer as the
 * worker pool has room for, and keeps those it works on alive with `working()`.
 */
export class NatsGroupConsumer implements Consumer {
  private readonly abort = new AbortController();
  private readonly unsettled = new UnsettledDeliveries<JsMsg>();
  private batch?: ConsumerMessages;
  private running?: Promise<void>;
  private heartbeat?: NodeJS.Timeout;

  constructor(
    private readonly context: NatsConsumerContext,
    private readonly consumer: JsConsumer,
    private readonly spec: ConsumerSpec,
    private readonly onDelivery: (delivery: Delivery) => void,
    private readonly flow: FlowControl,
  ) {}

  start(): void {
    this.running = this.loop();
    this.heartbeat = setInterval(
      () => {
        for (const message of this.unsettled.values()) message.working();
      },
      Math.max(50, this.context.ackWaitMs / 3),
    );
    this.heartbeat.unref();
  }

  async drained(): Promise<void> {
    // Nothing to drain: what is not acked stays in the stream for another consumer.
  }

  async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    this.batch?.stop();
    await this.running;
  }

  /** Naks the unsettled messages without delay, so another instance takes them over at once. */
  async release(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const message of this.unsettled.release()) message.nak();
  }

  private loop(): Promise<void> {
    const signal = this.abort.signal;
    return repeatUntilAborted(
      signal,
      async () => {
        if (this.flow.capacity() <= 0) {
          await this.flow.whenReady(signal);
          return;
        }
        this.batch = await this.consumer.fetch({ max_messages: this.flow.capacity(), expires: this.context.fetchExpiresMs });
        for await (const message of this.batch) await this.dispatch(message);
      },
      (error) => this.context.logger.warn(`NATS consumer of group ${this.spec.group} failed, retrying: ${errorMessage(error)}`),
    );
  }

  private async dispatch(message: JsMsg): Promise<void> {
    const only = message.headers?.get(HEADER_ONLY);
    const skip = message.headers?.get(HEADER_SKIP) ?? '';
    if ((only && only !== this.spec.group) || skip.split(',').includes(this.spec.group)) {
      message.ack();
      return;
    }
    const body = message.string();
    const attempt = message.info.redeliveryCount;
    let event: BrokerEvent;
    try {
      event = this.context.codec.decode(body);
    } catch (error) {
      const problem = `Unreadable message ${message.seq} on ${message.subject}: ${printable(errorMessage(error))}`;
      this.context.logger.error(`${problem}; dead-lettered for group ${this.spec.group}`);
      await publishDeadLetter(this.context, this.spec.group, body, problem, attempt);
      message.ack();
      return;
    }
    if (!matchAnyPattern(this.spec.patterns, event.type)) {
      message.ack();
      return;
    }
    this.onDelivery(this.delivery(message, body, event, attempt));
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

  /**
   * A key-value write per message would cost a third of the throughput, and most deliveries are
   * settled before anyone could read it: `processing` is recorded only for a delivery still
   * unsettled after `PROCESSING_MARK_DELAY_MS` (queued behind busy workers, or a long handler).
   * Settling waits for that write, so that the two updates of the record do not collide.
   */
  private delivery(message: JsMsg, body: string, event: BrokerEvent, attempt: number): Delivery {
    const startedAt = Date.now();
    let marking: Promise<void> | undefined;
    const markTimer = setTimeout(() => {
      if (!this.abort.signal.aborted) marking = this.markProcessing(event.id, startedAt);
    }, PROCESSING_MARK_DELAY_MS).unref();
    const tracked = this.unsettled.track(String(message.seq), message, `Delivery of message ${message.seq} to group ${this.spec.group}`);
    const settle = (): boolean => {
      clearTimeout(markTimer);
      return tracked();
    };
    const { history } = this.context;
    const group = this.spec.group;
    event.status = 'processing';
    event.retryCount = attempt - 1;
    return {
      event,
      group,
      attempt,
      // The outcome is recorded before the message is acked or terminated: a process that dies in
      // between gets the message delivered again (a duplicate) instead of leaving the event pending for good.
      ack: async () => {
        if (!settle()) return;
        await marking;
        await recordOutcome(history, event.id, group, { outcome: 'done', startedAt });
        message.ack();
      },
      retry: async (delayMs: number) => {
        if (!settle()) return;
        message.nak(delayMs);
        await marking;
        await history.update(event.id, (record) => {
          if (record.retryCount >= attempt) return false;
          record.retryCount = attempt;
          return true;
        });
      },
      deadLetter: async (error: string, attempts = attempt) => {
        if (!settle()) return;
        await publishDeadLetter(this.context, group, body, error, attempts);
        await marking;
        await recordOutcome(history, event.id, group, { outcome: 'failed', error, retryCount: attempts - 1, startedAt });
        message.term();
      },
    };
  }
}
