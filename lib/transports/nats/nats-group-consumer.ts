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

/** Records a group's outcome for an event and derives the event's status from all of them. */
export async function recordOutcome(
  history: NatsHistory,
  eventId: string,
  group: string,
  outcome: 'done' | 'failed',
  error?: string,
  retryCount?: number,
): Promise<void> {
  await history.update(eventId, (record) => {
    if (outcome === 'done' && record.groups[group] !== 'pending') return false;
    record.groups[group] = outcome;
    if (retryCount !== undefined) record.retryCount = Math.max(record.retryCount, retryCount);
    if (error !== undefined) record.error = error;
    const status = settledStatus(record);
    if (status && status !== record.status) {
      record.status = status;
      if (status === 'completed') record.completedAt = Date.now();
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
      const problem = `Unreadable message ${message.seq} on ${message.subject}: ${errorMessage(error)}`;
      this.context.logger.error(`${problem}; dead-lettered for group ${this.spec.group}`);
      await publishDeadLetter(this.context, this.spec.group, body, problem, attempt);
      message.ack();
      return;
    }
    if (!matchAnyPattern(this.spec.patterns, event.type)) {
      message.ack();
      return;
    }
    // Not awaited: two key-value round trips per message would pace the whole pull; the outcome's
    // own compare-and-set update comes after it or finds the status already settled.
    this.context.history
      .update(event.id, (record) => {
        if (record.status !== 'pending') return false;
        record.status = 'processing';
        record.processedAt = Date.now();
        return true;
      })
      .catch((error: unknown) => this.context.logger.warn(`Could not mark event ${event.id} processing: ${errorMessage(error)}`));
    this.onDelivery(this.delivery(message, body, event, attempt));
  }

  private delivery(message: JsMsg, body: string, event: BrokerEvent, attempt: number): Delivery {
    const settle = this.unsettled.track(String(message.seq), message, `Delivery of message ${message.seq} to group ${this.spec.group}`);
    const { history } = this.context;
    const group = this.spec.group;
    event.status = 'processing';
    event.retryCount = attempt - 1;
    return {
      event,
      group,
      attempt,
      ack: async () => {
        if (!settle()) return;
        await message.ackAck();
        await recordOutcome(history, event.id, group, 'done');
      },
      retry: async (delayMs: number) => {
        if (!settle()) return;
        message.nak(delayMs);
        await history.update(event.id, (record) => {
          if (record.retryCount >= attempt) return false;
          record.retryCount = attempt;
          return true;
        });
      },
      deadLetter: async (error: string, attempts = attempt) => {
        if (!settle()) return;
        await publishDeadLetter(this.context, group, body, error, attempts);
        message.term();
        await recordOutcome(history, event.id, group, 'failed', error, attempts - 1);
      },
    };
  }
}
