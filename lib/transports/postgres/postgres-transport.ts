import pg, { type Pool, type PoolClient, type QueryResult } from 'pg';
import { Signal } from '../../core/async-primitives.js';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { consoleBrokerLogger, type BrokerLogger } from '../../core/broker-logger.interface.js';
import { EventBrokerError, InvalidEventError } from '../../core/event-broker.errors.js';
import { assertPattern, matchPattern, patternsToRegExpSource } from '../../core/match-pattern.js';
import { assertEventFilter, DEFAULT_LIST_LIMIT } from '../event-filter.js';
import type { DeadLetter, DeadLetterFilter } from '../../core/dead-letter-store.interface.js';
import type { EventFilter, StatusDetails } from '../../core/event-history.interface.js';
import type {
  Consumer,
  ConsumerSpec,
  Delivery,
  EventTransport,
  FlowControl,
  GroupStats,
  PublishOptions,
  TransportContext,
  TransportStats,
} from '../../core/event-transport.interface.js';
import { DEFAULT_TRANSPORT_CONTEXT } from '../default-transport-context.js';
import { inlineDelivery } from '../inline-delivery.js';
import { formatDeadLetterId, parseDeadLetterId, unknownDeadLetter } from '../dead-letter-id.js';
import { LiveTail } from '../live-tail.js';
import { unknownEvent } from '../unknown-event.js';
import { RunningConsumers } from '../running-consumers.js';
import { TransportState } from '../transport-state.js';
import { WriteBatcher } from '../write-batcher.js';
import { hasPostgresErrorCode, POSTGRES_ERROR_CODES } from './postgres-errors.js';
import { PostgresGroupConsumer, PostgresSettler, type PostgresConsumerContext } from './postgres-group-consumer.js';
import { EVENT_COLUMNS, eventValues, rowEvent, type EventRow } from './postgres-rows.js';
import { listQuery } from './postgres-history-query.js';
import { PostgresNames } from './postgres-names.js';
import { postgresTables } from './postgres-schema.js';
import type { PostgresTransportOptions } from './postgres-transport-options.interface.js';
import { migrateSchema } from './schema-migrator.js';
import { errorMessage } from '../../core/error-message.js';
import type { OptionNames } from '../../core/known-options.js';
import { resolveOptions } from '../../core/resolve-options.js';
import { quote } from '../../core/quote-input.js';

const DEFAULTS = {
  schema: 'event_broker',
  pollIntervalMs: 1000,
  ackTimeoutMs: 30_000,
  retentionDays: 7,
  cleanupIntervalMs: 60 * 60 * 1000,
};

/** Rows of one INSERT: 12 parameters each, well under PostgreSQL's 65 535 per statement. */
const MAX_INSERT_ROWS = 500;
const INSERTS_IN_FLIGHT = 2;

/** Every option of `PostgresTransportOptions`: anything else is refused. */
const OPTION_NAMES: OptionNames<PostgresTransportOptions> = {
  connectionString: true,
  pool: true,
  client: true,
  schema: true,
  pollIntervalMs: true,
  ackTimeoutMs: true,
  retentionDays: true,
  cleanupIntervalMs: true,
};

type Settings = typeof DEFAULTS;

/** What `connect` made: the pool, and the client of it that listens for notifications. */
interface PostgresConnected {
  pool: Pool;
  listener: PoolClient;
}

/**
 * PostgreSQL: events in a table of the app's own database, one delivery row per (event, group),
 * claimed with `FOR UPDATE SKIP LOCKED`, woken by `LISTEN/NOTIFY` with polling as the fallback.
 * A publish given the caller's transaction (`tx`) is delivered if and only if it commits.
 */
export class PostgresTransport implements EventTransport {
  readonly type = 'postgres';
  readonly durable = true;
  readonly transactional = true;
  readonly orderedGroups = true;
  private readonly settings: Settings;
  private readonly names: PostgresNames;
  private readonly arrivals = new Signal();
  /** Open live tails; one is `live` once every notification of an event committed before it opened has gone by. */
  private readonly tails = new Set<{ pattern: string; tail: LiveTail<BrokerEvent>; live: boolean }>();
  /** Round trips on the listener that make tails live: this process's publishes wait for them, so a tail sees each one issued after it opened. */
  private readonly tailOpenings = new Set<Promise<void>>();
  /** The live tails' reads of notified events, one after the other: a tail yields events in commit order. */
  private tailFeed = Promise.resolve();
  private readonly consumers = new RunningConsumers();
  /**
   * Publishes issued together are one INSERT, one commit; if it fails, each is tried alone, for its
   * own outcome. At most `INSERTS_IN_FLIGHT` at a time: the publishes of a burst wait for one and
   * join the next, rather than take every connection of the pool from the consumers' claims.
   */
  private readonly inserts = new WriteBatcher<unknown[]>(
    async (rows) => {
      const { pool } = this.state.connected();
      try {
        await pool.query(this.insertEvents(rows.length), rows.flat());
      } catch (error) {
        if (rows.length === 1) throw error;
        return Promise.allSettled(rows.map(async (row) => void (await pool.query(this.insertEvents(1), row))));
      }
    },
    MAX_INSERT_ROWS,
    INSERTS_IN_FLIGHT,
  );
  private logger: BrokerLogger = consoleBrokerLogger;
  private cleanupTimer?: NodeJS.Timeout;
  private readonly state = new TransportState<PostgresConnected>('PostgresTransport');

  constructor(private readonly options: PostgresTransportOptions = {}) {
    this.settings = resolveOptions('PostgresTransport', DEFAULTS, options, OPTION_NAMES);
    if (!/^[a-z_][a-z0-9_]*$/.test(this.settings.schema)) {
      throw new EventBrokerError(
        `PostgresTransport option schema must be a lower-case identifier ([a-z_][a-z0-9_]*), got ${quote(this.settings.schema)}`,
      );
    }
    this.names = new PostgresNames(this.settings.schema);
  }

  async connect(context: TransportContext = DEFAULT_TRANSPORT_CONTEXT): Promise<void> {
    this.state.assertOpen();
    this.logger = context.logger;
    if (this.state.made) return;
    const pool = this.options.client ?? new pg.Pool(this.options.pool ?? { connectionString: this.options.connectionString });
    pool.on('error', (error) => this.logger.warn(`PostgreSQL pool error: ${error.message}`));
    let listener: PoolClient;
    try {
      listener = await pool.connect();
    } catch (error) {
      if (!this.options.client) await pool.end().catch(() => undefined);
      throw new EventBrokerError(`Cannot reach PostgreSQL at ${this.describeServer()}: ${errorMessage(error)}`, { cause: error });
    }
    try {
      await migrateSchema(listener, postgresTables(this.settings.schema));
      listener.on('notification', (message) => this.onNotification(message.payload));
      await listener.query(`LISTEN "${this.names.channel}"`);
    } catch (error) {
      listener.release();
      if (!this.options.client) await pool.end().catch(() => undefined);
      throw error;
    }
    this.state.connectedWith({ pool, listener });
    this.cleanupTimer = setInterval(() => {
      this.removeExpired().catch((error: unknown) => this.logger.warn(`Retention cleanup failed: ${errorMessage(error)}`));
    }, this.settings.cleanupIntervalMs);
    this.cleanupTimer.unref();
  }

  async publish(event: BrokerEvent, options: PublishOptions = {}): Promise<Delivery[]> {
    this.state.connected();
    if (this.tailOpenings.size > 0) await Promise.all(this.tailOpenings);
    const claimGroups = options.claimGroups ?? [];
    const values = eventValues(event, claimGroups);
    try {
      if (options.tx) await options.tx.query(this.insertEvents(1), values);
      else await this.inserts.add(values);
    } catch (error) {
      if (hasPostgresErrorCode(error, POSTGRES_ERROR_CODES.untranslatableCharacter)) {
        throw new InvalidEventError(
          `Event ${event.id} (${event.type}) cannot be stored in PostgreSQL: its payload or metadata holds the character \\u0000, which jsonb refuses`,
        );
      }
      throw error;
    }
    const settler = new PostgresSettler(this.consumerContext());
    // Their delivery rows were inserted as taken (the trigger reads skip_groups).
    return claimGroups.map((group) =>
      inlineDelivery(event, group, {
        ack: () => settler.ack(event.id, group),
        deadLetter: (error, attempts) => settler.deadLetter(event.id, group, error, attempts),
      }),
    );
  }

  /** An INSERT of `rows` events; an id already stored is skipped (a retried publish). */
  private insertEvents(rows: number): string {
    const columns = EVENT_COLUMNS.length;
    const tuples = Array.from(
      { length: rows },
      (_row, row) => `(${EVENT_COLUMNS.map((_column, column) => `$${row * columns + column + 1}`).join(', ')})`,
    );
    return `INSERT INTO ${this.names.events} (${EVENT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (id) DO NOTHING`;
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    const { pool } = this.state.connected();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    const typeRegex = patternsToRegExpSource(spec.patterns);
    await this.joinGroup(pool, spec, typeRegex);
    return this.consumers.start(new PostgresGroupConsumer(this.consumerContext(), spec, onDelivery, flow));
  }

  /**
   * Records the group (a new one that starts from the beginning gets its deliveries of the events
   * already stored) and this consumer among its running ones, refusing a consumer that orders the
   * group otherwise than one still running. One transaction under the group's advisory lock: two
   * consumers that join at once are checked one after the other, and an ordered group's claims
   * (which take the same lock) see the backfilled deliveries together with the group, never the
   * deliveries of newer events of a key without its older ones.
   */
  private async joinGroup(pool: Pool, spec: ConsumerSpec, typeRegex: string): Promise<void> {
    const { group, consumerName } = spec;
    const ordered = spec.ordered ?? false;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.names.groupLock(group)]);
      const { rows: others } = await client.query<{ consumer_name: string }>(
        `SELECT consumer_name FROM ${this.names.consumers}
         WHERE group_name = $1 AND consumer_name <> $2 AND ordered <> $3 AND alive_until > clock_timestamp()
         ORDER BY consumer_name`,
        [group, consumerName, ordered],
      );
      if (others.length > 0) {
        const [theirs, asked] = ordered ? ['unordered', 'ordered'] : ['ordered', 'unordered'];
        throw new EventBrokerError(
          `Group ${group} is consumed ${theirs} by running instances (${others.map((other) => other.consumer_name).join(', ')}); ` +
            `a consumer of the same group cannot consume it ${asked} (give every consumer of a group the same ordered option). ` +
            `To change a group's ordered option, stop every instance of the group first, then start them with the new one`,
        );
      }
      await client.query(
        `INSERT INTO ${this.names.consumers} (group_name, consumer_name, ordered, alive_until)
         VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4::double precision / 1000))
         ON CONFLICT (group_name, consumer_name) DO UPDATE SET ordered = EXCLUDED.ordered, alive_until = EXCLUDED.alive_until`,
        [group, consumerName, ordered, this.settings.ackTimeoutMs],
      );
      if (ordered) await client.query(this.recordTurnsOfUnordered(), [group]);
      const { rows } = await client.query<{ created: boolean }>(
        `INSERT INTO ${this.names.groups} (name, patterns, type_regex, ordered) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET patterns = EXCLUDED.patterns, type_regex = EXCLUDED.type_regex, ordered = EXCLUDED.ordered
         RETURNING (xmax = 0) AS created`,
        [group, [...spec.patterns], typeRegex, ordered],
      );
      if (rows[0]?.created && spec.fromBeginning) {
        await client.query(
          `INSERT INTO ${this.names.deliveries} (event_id, event_seq, group_name, ordering_key)
           SELECT id, seq, $1, coalesce(key, id) FROM ${this.names.events} WHERE type ~ $2 ON CONFLICT DO NOTHING`,
          [group, typeRegex],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * When group `$1` becomes ordered, the deliveries its unordered consumers still lease are out:
   * each key's is recorded in `ordered_turns` (the one whose lease ends last, for a key with
   * several), so that an ordered claim does not hand out another one of its key beside it. Reads
   * the group's open deliveries, only when its recorded setting is unordered.
   */
  private recordTurnsOfUnordered(): string {
    const { deliveries, groups, turns } = this.names;
    return `INSERT INTO ${turns} (group_name, ordering_key, event_id)
       SELECT DISTINCT ON (d.ordering_key) d.group_name, d.ordering_key, d.event_id FROM ${deliveries} d
       WHERE d.group_name = $1 AND d.state = 'open' AND d.ordering_key IS NOT NULL AND d.locked_by IS NOT NULL
         AND EXISTS (SELECT 1 FROM ${groups} g WHERE g.name = $1 AND NOT g.ordered)
       ORDER BY d.ordering_key, d.locked_until DESC
       ON CONFLICT (group_name, ordering_key) DO UPDATE SET event_id = EXCLUDED.event_id`;
  }

  async get(id: string): Promise<BrokerEvent | null> {
    const { pool } = this.state.connected();
    const { rows } = await pool.query<EventRow>(`SELECT * FROM ${this.names.history} WHERE id = $1`, [id]);
    return rows[0] ? rowEvent(rows[0]) : null;
  }

  /** Every filter in SQL (see `listQuery`). */
  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    const { pool } = this.state.connected();
    // Two statements, one round trip: `pg` gives a result for each.
    const [, window] = (await pool.query(listQuery(this.names, filter))) as unknown as [unknown, QueryResult<EventRow>];
    return window.rows.map(rowEvent);
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    const { pool } = this.state.connected();
    const { rowCount } = await pool.query(
      `UPDATE ${this.names.events} SET status = $2, error = coalesce($3, error),
         processed_at = coalesce($4, processed_at), completed_at = coalesce($5, completed_at)
       WHERE id = $1`,
      [id, status, details.error ?? null, details.processedAt ?? null, details.completedAt ?? null],
    );
    if (!rowCount) throw unknownEvent(id);
  }

  async delete(id: string): Promise<boolean> {
    const { pool } = this.state.connected();
    const { rowCount } = await pool.query(
      // Its delivery rows in key order, as a settle of several locks them: another order could deadlock with one.
      `WITH locked AS (SELECT id FROM ${this.names.events} WHERE id = $1 FOR UPDATE),
       held AS (SELECT group_name FROM ${this.names.deliveries} WHERE event_id IN (SELECT id FROM locked) ORDER BY group_name FOR UPDATE),
       gone AS (DELETE FROM ${this.names.deliveries} WHERE event_id = $1 AND group_name IN (SELECT group_name FROM held))
       DELETE FROM ${this.names.events} WHERE id IN (SELECT id FROM locked)`,
      [id],
    );
    return (rowCount ?? 0) > 0;
  }

  stream(pattern: string): AsyncIterable<BrokerEvent> {
    assertPattern(pattern);
    const { listener } = this.state.connected();
    const entry = { pattern, tail: new LiveTail<BrokerEvent>(() => this.tails.delete(entry)), live: false };
    this.tails.add(entry);
    // PostgreSQL sends the notifications of every commit before this query, before its result.
    const opening = listener.query('SELECT 1').then(
      () => void (entry.live = true),
      () => void (entry.live = true),
    );
    this.tailOpenings.add(opening);
    void opening.finally(() => this.tailOpenings.delete(opening));
    return entry.tail;
  }

  /** The window of failed rows, newest first, from their own index; then their events. */
  async deadLetters(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const values: unknown[] = [filter.limit ?? DEFAULT_LIST_LIMIT, filter.offset ?? 0];
    if (filter.group !== undefined) values.push(filter.group);
    const { pool } = this.state.connected();
    const { rows } = await pool.query<EventRow & { group_name: string; delivery_error: string; attempts: number; dead_lettered_at: Date }>(
      `SELECT h.*, failed.group_name, failed.error AS delivery_error, failed.attempts, failed.dead_lettered_at
       FROM (
         SELECT event_id, group_name, error, attempts, dead_lettered_at FROM ${this.names.deliveries}
         WHERE state = 'failed' ${filter.group !== undefined ? 'AND group_name = $3' : ''}
         ORDER BY dead_lettered_at DESC LIMIT $1 OFFSET $2
       ) failed JOIN ${this.names.history} h ON h.id = failed.event_id
       ORDER BY failed.dead_lettered_at`,
      values,
    );
    return rows.map((row) => ({
      id: formatDeadLetterId(row.id, row.group_name),
      event: rowEvent(row),
      group: row.group_name,
      error: row.delivery_error,
      attempts: row.attempts,
      deadLetteredAt: row.dead_lettered_at,
    }));
  }

  /**
   * Opens the failed delivery again as a first attempt, and takes off the status its event was
   * given by hand, if any, so that the replay's outcome shows. The event row is locked first, as
   * `delete` locks it.
   */
  async replay(deadLetterId: string): Promise<void> {
    const { pool } = this.state.connected();
    const { key: eventId, group } = parseDeadLetterId(deadLetterId);
    const { rowCount } = await pool.query(
      `WITH locked AS (SELECT id, coalesce(key, id) AS ordering_key FROM ${this.names.events} WHERE id = $1 FOR UPDATE),
       replayed AS (
         UPDATE ${this.names.deliveries} d SET state = 'open', attempts = 0, next_attempt_at = now(), error = NULL, dead_lettered_at = NULL,
           ordering_key = coalesce(d.ordering_key, locked.ordering_key)
         FROM locked WHERE d.event_id = locked.id AND d.group_name = $2 AND d.state = 'failed' RETURNING d.event_id
       ), unset AS (
         UPDATE ${this.names.events} e SET status = NULL, error = NULL FROM replayed
         WHERE e.id = replayed.event_id AND (e.status IS NOT NULL OR e.error IS NOT NULL)
       )
       SELECT pg_notify($3, '') FROM replayed`,
      [eventId, group, this.names.channel],
    );
    if (!rowCount) throw unknownDeadLetter(deadLetterId);
  }

  /** Counts the open and failed rows of each group, from their own indexes; done rows are not read. */
  async stats(): Promise<TransportStats> {
    const { pool } = this.state.connected();
    const { deliveries } = this.names;
    const [events, counts] = await Promise.all([
      pool.query<{ count: string }>(`SELECT count(*) FROM ${this.names.events}`),
      pool.query<{ name: string; pending: string; in_flight: string; dead: string }>(
        `SELECT g.name, coalesce(open.pending, 0) AS pending, coalesce(open.in_flight, 0) AS in_flight,
           (SELECT count(*) FROM ${deliveries} d WHERE d.group_name = g.name AND d.state = 'failed') AS dead
         FROM ${this.names.groups} g LEFT JOIN LATERAL (
           SELECT count(*) FILTER (WHERE d.locked_by IS NULL) AS pending, count(*) FILTER (WHERE d.locked_by IS NOT NULL) AS in_flight
           FROM ${deliveries} d WHERE d.group_name = g.name AND d.state = 'open'
         ) open ON true`,
      ),
    ]);
    const groups: Record<string, GroupStats> = {};
    let deadLetters = 0;
    for (const row of counts.rows) {
      groups[row.name] = { pending: Number(row.pending), inFlight: Number(row.in_flight), deadLetters: Number(row.dead) };
      deadLetters += Number(row.dead);
    }
    return { type: this.type, events: Number(events.rows[0].count), deadLetters, groups };
  }

  async close(): Promise<void> {
    if (!this.state.close()) return;
    clearInterval(this.cleanupTimer);
    await this.consumers.closeAll();
    for (const { tail } of this.tails) tail.end();
    this.arrivals.notify();
    const connected = this.state.made;
    connected?.listener.release();
    if (connected && !this.options.client) await connected.pool.end();
  }

  private describeServer(): string {
    const config = this.options.pool ?? {};
    if (this.options.connectionString) {
      const url = new URL(this.options.connectionString);
      return `${url.hostname}:${url.port || 5432}`;
    }
    return `${config.host ?? process.env.PGHOST ?? 'localhost'}:${config.port ?? process.env.PGPORT ?? 5432}`;
  }

  /** Wakes the consumers; the live tails read the events it names (their `seq`s, comma-separated), if any. */
  private onNotification(payload: string | undefined): void {
    this.arrivals.notify();
    const wanted = [...this.tails].filter(({ live }) => live);
    if (wanted.length === 0 || !payload) return;
    const seqs = payload.split(',');
    const typeRegex = patternsToRegExpSource(wanted.map(({ pattern }) => pattern));
    this.tailFeed = this.tailFeed.then(async () => {
      try {
        const { pool } = this.state.connected();
        const { rows } = await pool.query<EventRow>(`SELECT * FROM ${this.names.history} WHERE seq = ANY ($1) AND type ~ $2 ORDER BY seq`, [
          seqs,
          typeRegex,
        ]);
        for (const row of rows) {
          for (const { pattern, tail } of wanted) if (matchPattern(pattern, row.type)) tail.push(rowEvent(row));
        }
      } catch (error) {
        this.logger.warn(`Live tail could not read events ${payload}: ${errorMessage(error)}`);
      }
    });
  }

  /**
   * Deletes the events completed (every delivery done, none open or failed) before the retention
   * window, and the `ordered_turns` rows whose delivery is no longer open (its event deleted, or a
   * group no longer ordered that settled it): each still naming that delivery once locked, so that
   * a row a claim rewrote meanwhile stays; rows a claim is writing are skipped, not waited for.
   */
  private async removeExpired(): Promise<void> {
    const { pool } = this.state.connected();
    const { turns, deliveries } = this.names;
    await pool.query(
      `WITH stale AS MATERIALIZED (
         SELECT t.group_name, t.ordering_key, t.event_id FROM ${turns} t
         WHERE NOT EXISTS (SELECT 1 FROM ${deliveries} d WHERE d.group_name = t.group_name AND d.event_id = t.event_id AND d.state = 'open')
       ), locked AS (
         SELECT t.group_name, t.ordering_key FROM ${turns} t JOIN stale USING (group_name, ordering_key, event_id)
         FOR UPDATE OF t SKIP LOCKED
       )
       DELETE FROM ${turns} t USING locked WHERE t.group_name = locked.group_name AND t.ordering_key = locked.ordering_key`,
    );
    await pool.query(
      `WITH expired AS (
         DELETE FROM ${this.names.events} e
         WHERE e.created_at < now() - make_interval(days => $1) AND coalesce(e.status, 'completed') = 'completed'
           AND NOT EXISTS (
             SELECT 1 FROM ${this.names.deliveries} d
             WHERE d.event_id = e.id AND (d.state <> 'done' OR d.done_at >= now() - make_interval(days => $1))
           )
         RETURNING id
       )
       DELETE FROM ${this.names.deliveries} d USING expired WHERE d.event_id = expired.id`,
      [this.settings.retentionDays],
    );
  }

  private consumerContext(): PostgresConsumerContext {
    const { pool } = this.state.connected();
    const { ackTimeoutMs, pollIntervalMs } = this.settings;
    return { pool, names: this.names, ackTimeoutMs, pollIntervalMs, arrivals: this.arrivals, logger: this.logger };
  }
}
