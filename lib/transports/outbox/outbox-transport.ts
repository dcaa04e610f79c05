import pg, { type Pool } from 'pg';
import { repeatUntilAborted, Signal } from '../../core/async-primitives.js';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { consoleBrokerLogger, type BrokerLogger } from '../../core/broker-logger.interface.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { fromCloudEvent, toCloudEvent } from '../cloud-event.codec.js';
import type { Delivery, EventTransport, PublishOptions, TransportContext } from '../../core/event-transport.interface.js';
import { DEFAULT_TRANSPORT_CONTEXT } from '../default-transport-context.js';
import { ForwardingTransport } from '../forwarding-transport.js';
import { migrateSchema } from '../postgres/schema-migrator.js';
import { TransportState } from '../transport-state.js';
import type { OutboxOptions } from './outbox-options.interface.js';
import { outboxTables } from './outbox-schema.js';
import { errorMessage } from '../../core/error-message.js';
import type { OptionNames } from '../../core/known-options.js';
import { resolveOptions } from '../../core/resolve-options.js';
import { quote } from '../../core/quote-input.js';

const DEFAULTS = { schema: 'event_broker', batchSize: 100, pollIntervalMs: 1000 };

/** Every option of `OutboxOptions`: anything else is refused. */
const OPTION_NAMES: OptionNames<OutboxOptions> = {
  connectionString: true,
  pool: true,
  client: true,
  schema: true,
  batchSize: true,
  pollIntervalMs: true,
};

/** What `connect` made: the pool of the app's database, and the client of it that listens for new rows. */
interface OutboxConnected {
  pool: Pool;
  listener: pg.PoolClient;
}

/**
 * The transactional outbox in front of a transport that lives outside the app's database (Redis,
 * NATS): a publish given the caller's transaction (`tx`) writes the event to an `outbox` table in
 * that transaction; a relay forwards committed rows to the transport and marks them sent. Rows are
 * claimed with `FOR UPDATE SKIP LOCKED`, so that instances share the work and each row is sent by
 * one at a time; a relay that dies mid-batch leaves its rows unsent, to be sent again (the
 * transports store an event id once). Everything else goes straight to the inner transport.
 */
export class OutboxTransport extends ForwardingTransport {
  private readonly schema: string;
  private readonly table: string;
  private readonly channel: string;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly state = new TransportState<OutboxConnected>('OutboxTransport');
  private readonly arrivals = new Signal();
  private readonly abort = new AbortController();
  private relaying?: Promise<void>;
  private logger: BrokerLogger = consoleBrokerLogger;

  constructor(
    inner: EventTransport,
    private readonly options: OutboxOptions = {},
  ) {
    super(inner);
    const { schema, batchSize, pollIntervalMs } = resolveOptions('Outbox', DEFAULTS, options, OPTION_NAMES);
    if (!/^[a-z_][a-z0-9_]*$/.test(schema))
      throw new EventBrokerError(`Outbox option schema must be a lower-case identifier, got ${quote(schema)}`);
    this.schema = schema;
    this.table = `"${schema}".outbox`;
    this.channel = `${schema}_outbox`;
    this.batchSize = batchSize;
    this.pollIntervalMs = pollIntervalMs;
  }

  override get transactional(): boolean {
    return true;
  }

  override async connect(context: TransportContext = DEFAULT_TRANSPORT_CONTEXT): Promise<void> {
    this.state.assertOpen();
    this.logger = context.logger;
    if (this.state.made) return;
    await this.inner.connect(context);
    const pool = this.options.client ?? new pg.Pool(this.options.pool ?? { connectionString: this.options.connectionString });
    pool.on('error', (error) => this.logger.warn(`Outbox pool error: ${error.message}`));
    let listener: pg.PoolClient;
    try {
      listener = await pool.connect();
    } catch (error) {
      if (!this.options.client) await pool.end().catch(() => undefined);
      throw new EventBrokerError(`Cannot reach the outbox database: ${errorMessage(error)}`, { cause: error });
    }
    try {
      await migrateSchema(listener, outboxTables(this.schema));
      listener.on('notification', () => this.arrivals.notify());
      await listener.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      listener.release();
      if (!this.options.client) await pool.end().catch(() => undefined);
      throw error;
    }
    this.state.connectedWith({ pool, listener });
    this.relaying = this.relay();
  }

  override async publish(event: BrokerEvent, options: PublishOptions = {}): Promise<Delivery[]> {
    if (!options.tx) return this.inner.publish(event, options);
    // A row written now would wait for a relay that has stopped, or never started.
    this.state.connected();
    await options.tx.query(`INSERT INTO ${this.table} (id, event) VALUES ($1, $2)`, [event.id, JSON.stringify(toCloudEvent(event))]);
    await options.tx.query('SELECT pg_notify($1, $2)', [this.channel, event.id]);
    return [];
  }

  override async close(): Promise<void> {
    if (!this.state.close()) return;
    this.abort.abort();
    this.arrivals.notify();
    await this.relaying;
    const connected = this.state.made;
    connected?.listener.release();
    if (connected && !this.options.client) await connected.pool.end();
    await this.inner.close();
  }

  /** Forwards committed rows until closed; a failed batch (transport down) is tried again. */
  private relay(): Promise<void> {
    const signal = this.abort.signal;
    return repeatUntilAborted(
      signal,
      async () => {
        // A notification during the batch may be for rows it did not see: forward again at once.
        const seen = this.arrivals.notifications;
        const sent = await this.forwardBatch();
        if (sent < this.batchSize && this.arrivals.notifications === seen) await this.arrivals.wait(signal, this.pollIntervalMs);
      },
      (error) => this.logger.warn(`Outbox relay could not forward events, retrying: ${errorMessage(error)}`),
      { firstPauseMs: 100, maxPauseMs: 5000 },
    );
  }

  private async forwardBatch(): Promise<number> {
    const { pool } = this.state.connected();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ seq: string; event: unknown }>(
        `SELECT seq, event FROM ${this.table} WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.batchSize],
      );
      for (const row of rows) await this.inner.publish(fromCloudEvent(JSON.stringify(row.event)));
      if (rows.length > 0) {
        await client.query(`UPDATE ${this.table} SET sent_at = now() WHERE seq = ANY ($1)`, [rows.map((row) => row.seq)]);
      } else {
        await client.query(`DELETE FROM ${this.table} WHERE sent_at < now() - interval '1 day'`);
      }
      await client.query('COMMIT');
      return rows.length;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
