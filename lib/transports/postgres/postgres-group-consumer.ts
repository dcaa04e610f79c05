import pg, { type Pool, type QueryResult } from 'pg';
import { Signal } from '../../core/async-primitives.js';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { errorMessage } from '../../core/error-message.js';
import { GroupConsumer } from '../group-consumer.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import { WriteBatcher } from '../write-batcher.js';
import type { PostgresNames } from './postgres-names.js';
import { orderedClaimStatement } from './postgres-ordered-claim.js';
import { QUICK_COMMIT } from './postgres-quick-commit.js';
import { CLAIMED_COLUMNS, claimedEvent, type ClaimedRow } from './postgres-rows.js';

export interface PostgresConsumerContext {
  pool: Pool;
  names: PostgresNames;
  ackTimeoutMs: number;
  pollIntervalMs: number;
  /** Notified when a notification says new events may be waiting. */
  arrivals: Signal;
  logger: BrokerLogger;
}

/** A claim of a delivery: the consumer that made it and the attempt it started. */
interface Claim {
  consumer: string;
  attempt: number;
}

/** A delivery to settle: its event and group, and in an ordered group the claim that must still hold it. */
interface Settled {
  eventId: string;
  group: string;
  /**
   * Settles the delivery only while this claim leases it. In an ordered group, the settle of a
   * claim whose lease ran out and that was claimed again since would end the key's turn while the
   * new claim's handler still runs the event, and let the key's next event start beside it.
   */
  claim?: Claim;
}

/** Settles (event, group) pairs: shared by consumed deliveries and those the publisher claimed. */
export class PostgresSettler {
  constructor(private readonly context: PostgresConsumerContext) {}

  /** One ack statement at a time: those asked for meanwhile are the next one. */
  private readonly acks = new WriteBatcher<Settled>((acks) => this.settleDone(acks), 500, 1);

  /** Marks the pair done. The acks that come together are one statement. */
  ack(eventId: string, group: string, claim?: Claim): Promise<void> {
    return this.acks.add({ eventId, group, claim });
  }

  /**
   * One update of the batch's open rows, locked in key order (see `settle`). Rows are matched by
   * key, not by the address the lock returned: a row renewed by the heartbeat while the lock waited
   * has moved to a version this statement's snapshot does not see, which the key still finds.
   */
  private async settleDone(acks: Settled[]): Promise<void> {
    const { deliveries } = this.context.names;
    const pairs = acks.map(
      ({ eventId, group, claim }) =>
        `(${escapeLiteral(eventId)}, ${escapeLiteral(group)}, ${claim ? `${escapeLiteral(claim.consumer)}, ${Math.trunc(claim.attempt)}` : 'NULL::text, NULL::integer'})`,
    );
    await this.settle(
      `UPDATE ${deliveries} SET state = 'done', done_at = now(), locked_by = NULL, locked_until = NULL
       WHERE (event_id, group_name) IN (
         SELECT d.event_id, d.group_name FROM ${deliveries} d
           JOIN (VALUES ${pairs.join(', ')}) AS acked (event_id, group_name, holder, attempt)
             ON d.event_id = acked.event_id AND d.group_name = acked.group_name
         WHERE d.state = 'open' AND (acked.holder IS NULL OR (d.locked_by = acked.holder AND d.attempts = acked.attempt))
         ORDER BY d.event_id, d.group_name FOR UPDATE OF d
       ) AND state = 'open'`,
      acks,
    );
  }

  async retry(eventId: string, group: string, delayMs: number, claim?: Claim): Promise<void> {
    await this.settle(
      `UPDATE ${this.context.names.deliveries} SET locked_by = NULL, locked_until = NULL,
         next_attempt_at = now() + make_interval(secs => ${Math.max(0, Math.trunc(delayMs))}::double precision / 1000)
       WHERE ${this.pair({ eventId, group, claim })} AND state = 'open'`,
    );
  }

  async deadLetter(eventId: string, group: string, error: string, attempts: number, claim?: Claim): Promise<void> {
    await this.settle(
      `UPDATE ${this.context.names.deliveries} SET state = 'failed', locked_by = NULL, locked_until = NULL, error = ${escapeLiteral(error)},
         attempts = greatest(attempts, ${Math.trunc(attempts)}), dead_lettered_at = now()
       WHERE ${this.pair({ eventId, group, claim })} AND state = 'open'`,
      [{ eventId, group, claim }],
    );
  }

  private pair({ eventId, group, claim }: Settled): string {
    const held = claim ? ` AND locked_by = ${escapeLiteral(claim.consumer)} AND attempts = ${Math.trunc(claim.attempt)}` : '';
    return `event_id = ${escapeLiteral(eventId)} AND group_name = ${escapeLiteral(group)}${held}`;
  }

  /**
   * Runs `statement`, which writes only the delivery rows it settles, without waiting for the disk
   * (see `QUICK_COMMIT`). Both travel as one simple query, one transaction and one round trip,
   * hence the values written into them as literals.
   *
   * No deadlock to retry: the event row is no longer written, so a settle locks delivery rows
   * only, in key order (event id, group) when it settles several, as `delete` does after locking
   * the event row (and `replay`, for its one row); a claim, the lease heartbeat and a release take
   * delivery rows without ever waiting for one another holds (`SKIP LOCKED`). Settles and the
   * retention cleanup lock `ordered_turns` rows the same way, and wait for nothing afterwards; the
   * ordered claims, which may wait for one of those rows, run one at a time per group.
   *
   * A settle of `ended` deliveries of an ordered group (an ack or dead letter: the claim is given)
   * ends their key's turn. A second statement, once every delivery row is settled, deletes the
   * key's `ordered_turns` row while it still names the delivery (one a claim is writing is left to
   * it, `SKIP LOCKED`: that claim names another delivery). It also makes the next delivery of the key
   * due, which no new event announces: a notification wakes the group's consumers in every
   * instance, rather than leave them to their poll. (Sent on commit; one per transaction.)
   */
  private async settle(statement: string, settled: readonly Settled[] = []): Promise<void> {
    const ended = settled.filter(({ claim }) => claim !== undefined);
    const { deliveries, turns, channel } = this.context.names;
    const pairs = ended.map(({ eventId, group }) => `(${escapeLiteral(eventId)}, ${escapeLiteral(group)})`);
    const endTurns =
      ended.length === 0
        ? ''
        : `;\nWITH ended AS (
             SELECT t.group_name, t.ordering_key FROM ${turns} t
               JOIN ${deliveries} d ON d.group_name = t.group_name AND d.ordering_key = t.ordering_key AND d.event_id = t.event_id
               JOIN (VALUES ${pairs.join(', ')}) AS settled (event_id, group_name) ON d.event_id = settled.event_id AND d.group_name = settled.group_name
             WHERE d.state <> 'open'
             FOR UPDATE OF t SKIP LOCKED
           )
           DELETE FROM ${turns} t USING ended WHERE t.group_name = ended.group_name AND t.ordering_key = ended.ordering_key;
           SELECT pg_notify(${escapeLiteral(channel)}, '')`;
    await this.context.pool.query(`${QUICK_COMMIT};\n${statement}${endTurns}`);
  }
}

const { escapeLiteral } = pg;

/**
 * One consumer of one group: claims due deliveries with `FOR UPDATE SKIP LOCKED` (pending ones
 * whose backoff is over, and processing ones whose lease expired), as many as the worker pool has
 * room for, woken by notifications and by a poll as the fallback; extends the lease of what it
 * works on. Messages are event ids.
 */
export class PostgresGroupConsumer extends GroupConsumer<string> {
  private readonly settler: PostgresSettler;
  /** Notified when this consumer acked or dead-lettered a delivery of an ordered group. */
  private readonly turns = new Signal();
  /** Renews this consumer's place among the group's running consumers. */
  private presence?: NodeJS.Timeout;
  private renewingPresence = Promise.resolve();
  /** In an ordered group, the last key this consumer claimed: its next claim starts after it. */
  private lastKey?: string;

  constructor(
    private readonly context: PostgresConsumerContext,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
  ) {
    super(spec, onDelivery, flow, { transportName: 'PostgreSQL', logger: context.logger, leaseMs: context.ackTimeoutMs });
    this.settler = new PostgresSettler(context);
  }

  override start(): void {
    super.start();
    this.presence = setInterval(() => (this.renewingPresence = this.stayAlive()), Math.max(50, this.context.ackTimeoutMs / 3));
    this.presence.unref();
  }

  /** Leaves the group's running consumers: another instance may then join it with another ordered setting. */
  override async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    clearInterval(this.presence);
    await super.close();
    // A renewal still under way would put the row back after the delete.
    await this.renewingPresence;
    try {
      await this.context.pool.query(`DELETE FROM ${this.context.names.consumers} WHERE group_name = $1 AND consumer_name = $2`, [
        this.spec.group,
        this.spec.consumerName,
      ]);
    } catch (error) {
      this.context.logger.warn(
        `Could not remove consumer ${this.spec.consumerName} from the running consumers of group ${this.spec.group}: ${errorMessage(error)}`,
      );
    }
  }

  /** Keeps this consumer among the group's running ones (see `PostgresTransport.joinGroup`) for another lease. */
  private async stayAlive(): Promise<void> {
    const { group, consumerName, ordered } = this.spec;
    try {
      await this.context.pool.query(
        `INSERT INTO ${this.context.names.consumers} (group_name, consumer_name, ordered, alive_until)
         VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4::double precision / 1000))
         ON CONFLICT (group_name, consumer_name) DO UPDATE SET ordered = EXCLUDED.ordered, alive_until = EXCLUDED.alive_until`,
        [group, consumerName, ordered ?? false, this.context.ackTimeoutMs],
      );
    } catch (error) {
      this.context.logger.warn(`Could not record consumer ${consumerName} of group ${group} as running: ${errorMessage(error)}`);
    }
  }

  protected async receive(count: number, signal: AbortSignal): Promise<void> {
    const { arrivals, pollIntervalMs } = this.context;
    // Fewer than asked for: nothing else was due when it claimed, and what comes due later is
    // notified (a new event, a replay) or found by the poll (a retry's delay, a lease run out). A
    // notification during the claim may be for rows it did not see: claim again at once.
    const seen = arrivals.notifications;
    const turns = this.turns.notifications;
    const claimed = await this.claim(count);
    if (claimed === count || arrivals.notifications !== seen || this.turns.notifications !== turns) return;
    if (this.spec.ordered) await Promise.race([arrivals.wait(signal, pollIntervalMs), this.turns.wait(signal, pollIntervalMs)]);
    else await arrivals.wait(signal, pollIntervalMs);
  }

  /**
   * Takes up to `count` due deliveries: open ones not leased whose backoff is over, and leased ones
   * whose lease expired; the commit does not wait for the disk (see `QUICK_COMMIT`). Neither the
   * event row nor an indexed column is written: the update stays on the row's page (heap-only).
   */
  private async claim(count: number): Promise<number> {
    const { group, consumerName, ordered } = this.spec;
    const { pool, ackTimeoutMs } = this.context;
    const rows = ordered
      ? await this.claimInTurn(count)
      : (await pool.query<ClaimedRow>(this.claimStatement(), [group, count, consumerName, ackTimeoutMs])).rows;
    await this.dispatch(
      rows.map((row) => ({
        message: row.id,
        key: row.id,
        description: `event ${row.id}`,
        attempt: row.attempts,
        event: claimedEvent(row),
        routed: true,
      })),
    );
    return rows.length;
  }

  /** An unordered group's claim, its parameters group, count, consumer and lease in ms: the oldest due deliveries. */
  private claimStatement(): string {
    const { events, deliveries } = this.context.names;
    return `WITH due AS (
         SELECT event_id FROM ${deliveries}
         WHERE group_name = $1 AND state = 'open'
           AND CASE WHEN locked_by IS NULL THEN next_attempt_at <= now() ELSE locked_until < now() END
         ORDER BY event_seq
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ), taken AS (
         UPDATE ${deliveries} d SET attempts = d.attempts + 1, locked_by = $3, started_at = coalesce(d.started_at, now()),
           locked_until = now() + make_interval(secs => $4::double precision / 1000)
         FROM due WHERE d.group_name = $1 AND d.event_id = due.event_id
         RETURNING d.event_id, d.attempts
       ), quick_commit AS (${QUICK_COMMIT})
       SELECT ${CLAIMED_COLUMNS}, taken.attempts FROM taken JOIN ${events} e ON e.id = taken.event_id CROSS JOIN quick_commit ORDER BY e.seq`;
  }

  /**
   * An ordered group's claims, one at a time across its instances (an advisory lock of the group,
   * held by the claim's transaction): the claim reads the rows once the lock is held, so it sees
   * every delivery the claims before it took. Without it, a claim could miss a delivery of a key
   * that another claim was taking at the same moment (one of an event that committed after a
   * later one of its key), and hand out a second delivery of the key. One round trip: the
   * statements run in one transaction, each reading what was committed when it began. The
   * transaction's `now()` is from before the wait for the lock: after a long wait a lease reckoned
   * from it would end at once, and another instance could claim the delivery again. The claim
   * reckons from the clock read once after the lock, as the claim statement starts. Keys take
   * turns: each claim starts after the last key this consumer claimed (see `orderedClaimStatement`).
   */
  private async claimInTurn(count: number): Promise<ClaimedRow[]> {
    const { group, consumerName } = this.spec;
    const { pool, names, ackTimeoutMs } = this.context;
    const lock = escapeLiteral(names.groupLock(group));
    const claim = orderedClaimStatement(names, { group, count, consumer: consumerName, leaseMs: ackTimeoutMs, after: this.lastKey });
    const results = (await pool.query(`SELECT pg_advisory_xact_lock(hashtext(${lock}));\n${claim}`)) as unknown as QueryResult<
      ClaimedRow & { last_key: string }
    >[];
    const { rows } = results[1];
    if (rows.length > 0) this.lastKey = rows[0].last_key;
    return rows;
  }

  protected async ack(received: ReceivedMessage<string>, event: BrokerEvent): Promise<void> {
    await this.settler.ack(event.id, this.spec.group, this.claimOf(received));
    this.nextTurn();
  }

  protected retryLater(received: ReceivedMessage<string>, event: BrokerEvent, delayMs: number): Promise<void> {
    return this.settler.retry(event.id, this.spec.group, delayMs, this.claimOf(received));
  }

  protected async deadLetter(received: ReceivedMessage<string>, error: string, attempts: number): Promise<void> {
    await this.settler.deadLetter(received.message, this.spec.group, error, attempts, this.claimOf(received));
    this.nextTurn();
  }

  /** In an ordered group, the claim that must still hold a delivery for its settle to count (see `Settled.claim`). */
  private claimOf(received: ReceivedMessage<string>): Claim | undefined {
    return this.spec.ordered ? { consumer: this.spec.consumerName, attempt: received.attempt } : undefined;
  }

  /** In an ordered group, a delivery settled for good makes its key's next one due: no notification says so, so claim again now. */
  private nextTurn(): void {
    if (this.spec.ordered) this.turns.notify();
  }

  /** Every delivery row is routed to its group by the table's trigger: none is passed by. */
  protected async pass(): Promise<void> {}

  /**
   * A row being settled right now is skipped: it needs no lease, and waiting for it could deadlock
   * with the settle. A row this consumer no longer holds (its lease ran out and another consumer
   * claimed it) is said: its event is handled twice, and beside the next of its key in an ordered group.
   */
  protected async renewLeases(eventIds: readonly string[]): Promise<void> {
    const { rows } = await this.context.pool.query<{ event_id: string }>(
      `UPDATE ${this.context.names.deliveries} SET locked_until = now() + make_interval(secs => $4::double precision / 1000)
       WHERE group_name = $1 AND event_id IN (${this.ownRows()})
       RETURNING event_id`,
      [this.spec.group, eventIds, this.spec.consumerName, this.context.ackTimeoutMs],
    );
    if (rows.length === eventIds.length) return;
    const renewed = new Set(rows.map((row) => row.event_id));
    const lost = this.stillUnsettled(eventIds.filter((eventId) => !renewed.has(eventId)));
    if (lost.length === 0) return;
    const shown = lost.length > 10 ? `${lost.slice(0, 10).join(', ')}, …` : lost.join(', ');
    this.context.logger.warn(
      `Lost the lease of ${lost.length} deliveries of group ${this.spec.group} still being handled (events ${shown}): ` +
        `their lease (ackTimeoutMs) ran out before this renewal, and another consumer may be handling them now`,
      { group: this.spec.group, lost: lost.length },
    );
  }

  /**
   * Makes the deliveries due at once, so another instance takes them over; one being settled now is
   * left to its settle. Not in an ordered group: their handlers may still run (a shutdown that timed
   * out), and the key's turn must not pass to another instance before they end; their leases run out.
   */
  protected async giveBack(eventIds: readonly string[]): Promise<void> {
    if (this.spec.ordered) return;
    await this.context.pool.query(
      `UPDATE ${this.context.names.deliveries} SET locked_by = NULL, locked_until = NULL, next_attempt_at = now()
       WHERE group_name = $1 AND event_id IN (${this.ownRows()})`,
      [this.spec.group, eventIds, this.spec.consumerName],
    );
  }

  /** The rows of `$2` this consumer holds in group `$1` (as `$3`) that no other transaction has locked. */
  private ownRows(): string {
    return `SELECT event_id FROM ${this.context.names.deliveries}
       WHERE group_name = $1 AND event_id = ANY ($2) AND state = 'open' AND locked_by = $3
       FOR UPDATE SKIP LOCKED`;
  }
}
