import pg, { type Pool } from 'pg';
import { repeatUntilAborted, Signal } from '../../core/async-primitives.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import type { Consumer, ConsumerSpec, Delivery, FlowControl } from '../event-transport.interface.js';
import { UnsettledDeliveries } from '../unsettled-deliveries.js';
import { WriteBatcher } from '../write-batcher.js';
import type { PostgresNames } from './postgres-schema.js';
import { rowEvent, type EventRow } from './postgres-rows.js';
import { errorMessage } from '../../core/error-message.js';

export interface PostgresConsumerContext {
  pool: Pool;
  names: PostgresNames;
  ackTimeoutMs: number;
  pollIntervalMs: number;
  /** Notified when a notification says new events may be waiting. */
  arrivals: Signal;
  logger: BrokerLogger;
}

/** Settles (event, group) pairs: shared by consumed deliveries and those the publisher claimed. */
export class PostgresSettler {
  constructor(private readonly context: PostgresConsumerContext) {}

  private readonly acks = new WriteBatcher<{ eventId: string; group: string }>((acks) => this.settleDone(acks));

  /**
   * Marks the pair done and, when no other group of the event is left, the event completed. Acks
   * that come together are settled in one transaction.
   */
  ack(eventId: string, group: string): Promise<void> {
    return this.acks.add({ eventId, group });
  }

  private async settleDone(acks: { eventId: string; group: string }[]): Promise<void> {
    const { events, deliveries } = this.context.names;
    const pairs = acks.map(({ eventId, group }) => `(${escapeLiteral(eventId)}, ${escapeLiteral(group)})`);
    const eventIds = acks.map(({ eventId }) => eventId);
    await this.inTransaction(eventIds, [
      `UPDATE ${deliveries} d SET state = 'done', locked_by = NULL, locked_until = NULL
       FROM (VALUES ${pairs.join(', ')}) AS acked(event_id, group_name)
       WHERE d.event_id = acked.event_id AND d.group_name = acked.group_name AND d.state = 'processing'`,
      `UPDATE ${events} e SET status = 'completed', completed_at = now()
       WHERE e.id IN (${eventIds.map(escapeLiteral).join(', ')}) AND e.status <> 'failed'
         AND NOT EXISTS (SELECT 1 FROM ${deliveries} d WHERE d.event_id = e.id AND d.state <> 'done')`,
    ]);
  }

  async retry(eventId: string, group: string, delayMs: number, retryCount: number): Promise<void> {
    const { events, deliveries } = this.context.names;
    const [id, name] = [escapeLiteral(eventId), escapeLiteral(group)];
    await this.inTransaction(
      [eventId],
      [
        `WITH retried AS (
           UPDATE ${deliveries} SET state = 'pending', locked_by = NULL, locked_until = NULL,
             next_attempt_at = now() + make_interval(secs => ${Math.max(0, Math.trunc(delayMs))}::double precision / 1000)
           WHERE event_id = ${id} AND group_name = ${name} AND state = 'processing' RETURNING event_id
         )
         UPDATE ${events} e SET retry_count = greatest(e.retry_count, ${Math.trunc(retryCount)}) FROM retried WHERE e.id = retried.event_id`,
      ],
    );
  }

  async deadLetter(eventId: string, group: string, error: string, attempts: number): Promise<void> {
    const { events, deliveries } = this.context.names;
    const [id, name, reason, count] = [escapeLiteral(eventId), escapeLiteral(group), escapeLiteral(error), Math.trunc(attempts)];
    await this.inTransaction(
      [eventId],
      [
        `UPDATE ${deliveries} SET state = 'failed', locked_by = NULL, locked_until = NULL, error = ${reason},
           attempts = greatest(attempts, ${count}), dead_lettered_at = now()
         WHERE event_id = ${id} AND group_name = ${name} AND state = 'processing'`,
        `UPDATE ${events} SET status = 'failed', error = ${reason}, retry_count = greatest(retry_count, ${count - 1}) WHERE id = ${id}`,
      ],
    );
  }

  /**
   * Runs `statements` in one transaction that first locks the rows of `eventIds`, in id order, so
   * that two groups settling one event at once see each other's outcome (each statement reads
   * what committed before it). They travel as one simple query: one round trip, hence the values
   * written into them as literals.
   *
   * No deadlock to retry: every settle (ack, retry, dead letter) takes event rows first, in id
   * order, and only then its delivery rows; a claim takes delivery rows first but skips, never
   * waits for, rows others hold; a replay changes only failed deliveries, which no settle touches.
   */
  private async inTransaction(eventIds: readonly string[], statements: readonly string[]): Promise<void> {
    const locking = `SELECT 1 FROM ${this.context.names.events} WHERE id IN (${eventIds.map(escapeLiteral).join(', ')}) ORDER BY id FOR UPDATE`;
    // Statements sent as one simple query run as one transaction, rolled back whole if one fails.
    await this.context.pool.query([QUICK_COMMIT, locking, ...statements].join(';\n'));
  }
}

const { escapeLiteral } = pg;

/**
 * Claims and outcomes commit without waiting for the disk: one lost in a server crash leaves the
 * delivery as it was before, to be claimed and handled again (at least once), and the publishes,
 * which must be on disk when they resolve, do not queue behind their flushes.
 */
const QUICK_COMMIT = `SELECT set_config('synchronous_commit', 'off', true)`;

/**
 * One consumer of one group: claims due deliveries with `FOR UPDATE SKIP LOCKED` (pending ones
 * whose backoff is over, and processing ones whose lease expired), as many as the worker pool has
 * room for, woken by notifications and by a poll as the fallback; extends the lease of what it
 * works on.
 */
export class PostgresGroupConsumer implements Consumer {
  private readonly abort = new AbortController();
  private readonly unsettled = new UnsettledDeliveries<string>();
  private readonly settler: PostgresSettler;
  private running?: Promise<void>;
  private heartbeat?: NodeJS.Timeout;

  constructor(
    private readonly context: PostgresConsumerContext,
    private readonly spec: ConsumerSpec,
    private readonly onDelivery: (delivery: Delivery) => void,
    private readonly flow: FlowControl,
  ) {
    this.settler = new PostgresSettler(context);
  }

  start(): void {
    this.running = this.loop();
    this.heartbeat = setInterval(() => void this.extendLeases(), Math.max(50, this.context.ackTimeoutMs / 3));
    this.heartbeat.unref();
  }

  async drained(): Promise<void> {
    // Nothing to drain: what is not settled stays in the table for another consumer.
  }

  async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    await this.running;
  }

  /** Makes the unsettled deliveries due at once, so another instance takes them over. */
  async release(): Promise<void> {
    clearInterval(this.heartbeat);
    const ids = this.unsettled.release();
    if (ids.length === 0) return;
    await this.context.pool.query(
      `UPDATE ${this.context.names.deliveries} SET state = 'pending', locked_by = NULL, locked_until = NULL, next_attempt_at = now()
       WHERE group_name = $1 AND event_id = ANY ($2) AND state = 'processing' AND locked_by = $3`,
      [this.spec.group, ids, this.spec.consumerName],
    );
  }

  private loop(): Promise<void> {
    const signal = this.abort.signal;
    const { arrivals, pollIntervalMs } = this.context;
    return repeatUntilAborted(
      signal,
      async () => {
        if (this.flow.capacity() <= 0) {
          await this.flow.whenReady(signal);
          return;
        }
        // A notification during the claim may be for rows it did not see: claim again at once.
        const seen = arrivals.notifications;
        const claimed = await this.claim(this.flow.capacity());
        if (claimed === 0 && arrivals.notifications === seen) await arrivals.wait(signal, pollIntervalMs);
      },
      (error) => this.context.logger.warn(`PostgreSQL consumer of group ${this.spec.group} failed, retrying: ${errorMessage(error)}`),
    );
  }

  /**
   * Takes up to `count` due deliveries; the commit does not wait for the disk (see `QUICK_COMMIT`).
   * An event row another transaction holds (a group settling it) is not marked processing rather
   * than waited for: waiting, in another order than the settle's, could deadlock.
   */
  private async claim(count: number): Promise<number> {
    const { events, deliveries } = this.context.names;
    const { rows } = await this.context.pool.query<EventRow & { attempts: number }>(
      `WITH due AS (
         SELECT event_id FROM ${deliveries}
         WHERE group_name = $1
           AND ((state = 'pending' AND next_attempt_at <= now()) OR (state = 'processing' AND locked_until < now()))
         ORDER BY event_seq
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ), taken AS (
         UPDATE ${deliveries} d SET state = 'processing', attempts = d.attempts + 1, locked_by = $3,
           locked_until = now() + make_interval(secs => $4::double precision / 1000)
         FROM due WHERE d.group_name = $1 AND d.event_id = due.event_id
         RETURNING d.event_id, d.attempts
       ), started AS (
         UPDATE ${events} e SET status = 'processing', processed_at = now()
         WHERE e.id IN (
           SELECT pending.id FROM ${events} pending JOIN taken ON pending.id = taken.event_id
           WHERE pending.status = 'pending' FOR UPDATE OF pending SKIP LOCKED
         )
       ), quick_commit AS (${QUICK_COMMIT})
       SELECT e.*, taken.attempts FROM taken JOIN ${events} e ON e.id = taken.event_id CROSS JOIN quick_commit ORDER BY e.seq`,
      [this.spec.group, count, this.spec.consumerName, this.context.ackTimeoutMs],
    );
    for (const row of rows) this.onDelivery(this.delivery(row));
    return rows.length;
  }

  private delivery(row: EventRow & { attempts: number }): Delivery {
    const event = rowEvent(row);
    const attempt = row.attempts;
    const settle = this.unsettled.track(event.id, event.id, `Delivery of event ${event.id} to group ${this.spec.group}`);
    const group = this.spec.group;
    event.status = 'processing';
    event.retryCount = attempt - 1;
    return {
      event,
      group,
      attempt,
      ack: async () => {
        if (settle()) await this.settler.ack(event.id, group);
      },
      retry: async (delayMs: number) => {
        if (settle()) await this.settler.retry(event.id, group, delayMs, attempt);
      },
      deadLetter: async (error: string, attempts = attempt) => {
        if (settle()) await this.settler.deadLetter(event.id, group, error, attempts);
      },
    };
  }

  private async extendLeases(): Promise<void> {
    const ids = this.unsettled.keys();
    if (ids.length === 0) return;
    try {
      await this.context.pool.query(
        `UPDATE ${this.context.names.deliveries} SET locked_until = now() + make_interval(secs => $4::double precision / 1000)
         WHERE group_name = $1 AND event_id = ANY ($2) AND state = 'processing' AND locked_by = $3`,
        [this.spec.group, ids, this.spec.consumerName, this.context.ackTimeoutMs],
      );
    } catch (error) {
      this.context.logger.warn(`Could not extend the leases of group ${this.spec.group}: ${errorMessage(error)}`);
    }
  }
}
