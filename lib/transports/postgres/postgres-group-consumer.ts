import pg, { type Pool } from 'pg';
import type { Signal } from '../../core/async-primitives.js';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { GroupConsumer } from '../group-consumer.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import { WriteBatcher } from '../write-batcher.js';
import type { PostgresNames } from './postgres-schema.js';
import { rowEvent, type EventRow } from './postgres-rows.js';

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
   * No deadlock to retry: every settle (ack, retry, dead letter) and `delete` take event rows
   * first, in id order, and only then delivery rows; a claim, the lease heartbeat and a release
   * take delivery rows without ever waiting for one another holds (`SKIP LOCKED`); a replay changes
   * only failed deliveries, which no settle touches.
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
 * works on. Messages are event ids.
 */
export class PostgresGroupConsumer extends GroupConsumer<string> {
  private readonly settler: PostgresSettler;

  constructor(
    private readonly context: PostgresConsumerContext,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
  ) {
    super(spec, onDelivery, flow, { transportName: 'PostgreSQL', logger: context.logger, leaseMs: context.ackTimeoutMs });
    this.settler = new PostgresSettler(context);
  }

  protected async receive(count: number, signal: AbortSignal): Promise<void> {
    const { arrivals, pollIntervalMs } = this.context;
    // A notification during the claim may be for rows it did not see: claim again at once.
    const seen = arrivals.notifications;
    const claimed = await this.claim(count);
    if (claimed === 0 && arrivals.notifications === seen) await arrivals.wait(signal, pollIntervalMs);
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
    await this.dispatch(
      rows.map((row) => ({
        message: row.id,
        key: row.id,
        description: `event ${row.id}`,
        attempt: row.attempts,
        event: rowEvent(row),
        routed: true,
      })),
    );
    return rows.length;
  }

  protected ack(_received: ReceivedMessage<string>, event: BrokerEvent): Promise<void> {
    return this.settler.ack(event.id, this.spec.group);
  }

  protected retryLater({ attempt }: ReceivedMessage<string>, event: BrokerEvent, delayMs: number): Promise<void> {
    return this.settler.retry(event.id, this.spec.group, delayMs, attempt);
  }

  protected deadLetter({ message: eventId }: ReceivedMessage<string>, error: string, attempts: number): Promise<void> {
    return this.settler.deadLetter(eventId, this.spec.group, error, attempts);
  }

  /** Every delivery row is routed to its group by the table's trigger: none is passed by. */
  protected async pass(): Promise<void> {}

  /** A row being settled right now is skipped: it needs no lease, and waiting for it could deadlock with the settle. */
  protected async renewLeases(eventIds: readonly string[]): Promise<void> {
    await this.context.pool.query(
      `UPDATE ${this.context.names.deliveries} SET locked_until = now() + make_interval(secs => $4::double precision / 1000)
       WHERE group_name = $1 AND event_id IN (${this.ownRows()})`,
      [this.spec.group, eventIds, this.spec.consumerName, this.context.ackTimeoutMs],
    );
  }

  /** Makes the deliveries due at once, so another instance takes them over; one being settled now is left to its settle. */
  protected async giveBack(eventIds: readonly string[]): Promise<void> {
    await this.context.pool.query(
      `UPDATE ${this.context.names.deliveries} SET state = 'pending', locked_by = NULL, locked_until = NULL, next_attempt_at = now()
       WHERE group_name = $1 AND event_id IN (${this.ownRows()})`,
      [this.spec.group, eventIds, this.spec.consumerName],
    );
  }

  /** The rows of `$2` this consumer holds in group `$1` (as `$3`) that no other transaction has locked. */
  private ownRows(): string {
    return `SELECT event_id FROM ${this.context.names.deliveries}
       WHERE group_name = $1 AND event_id = ANY ($2) AND state = 'processing' AND locked_by = $3
       ORDER BY event_id FOR UPDATE SKIP LOCKED`;
  }
}
