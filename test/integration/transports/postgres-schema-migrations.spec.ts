import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EVENT_SOURCES } from '../../../lib/core/broker-event.interface.js';
import { EventBroker, MemoryTransport, createEvent, toCloudEvent, type BrokerEvent } from '../../../lib/index.js';
import { OutboxTransport, PostgresTransport } from '../../../lib/postgres.js';
import { POSTGRES_MIGRATIONS, postgresTables } from '../../../lib/transports/postgres/postgres-schema.js';
import { migrateSchema } from '../../../lib/transports/postgres/schema-migrator.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { outboxTableBeforeVersions, transportTablesBeforeVersions } from '../../support/tables-before-versions.js';
import { waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

async function connection(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  cleanups.push(() => client.end());
  return client;
}

function newSchema(): string {
  const schema = uniqueSchema('migrate');
  cleanups.push(() => dropSchema(schema));
  return schema;
}

function transport(schema: string): PostgresTransport {
  const created = new PostgresTransport({ connectionString: DATABASE_URL, schema, pollIntervalMs: 50 });
  cleanups.push(() => created.close());
  return created;
}

function outbox(schema: string, options: { client?: pg.Pool } = {}): OutboxTransport {
  const created = new OutboxTransport(new MemoryTransport(), { connectionString: DATABASE_URL, schema, pollIntervalMs: 50, ...options });
  cleanups.push(() => created.close());
  return created;
}

async function versions(sql: pg.Client, schema: string): Promise<{ component: string; version: number }[]> {
  const { rows } = await sql.query<{ component: string; version: number }>(
    `SELECT component, version FROM "${schema}".event_broker_migrations ORDER BY component, version`,
  );
  return rows;
}

const context = { logger: new RecordingLogger() };

describe('PostgreSQL schema versions', () => {
  it('upgrades the tables of a release before versions in one migration: stored events kept, pending ones delivered', async () => {
    const schema = newSchema();
    const sql = await connection();
    for (const statement of [...transportTablesBeforeVersions(schema), ...outboxTableBeforeVersions(schema)]) await sql.query(statement);
    await sql.query(
      `INSERT INTO "${schema}".groups (name, patterns, type_regex) VALUES ('billing', '{public.orders.*}', '^public\\.orders\\.[^.]+$')`,
    );
    await sql.query(
      `INSERT INTO "${schema}".events (id, source, type, payload) VALUES
         ('old-1', 'system', 'public.orders.create', '{"n": 1}'), ('old-2', 'system', 'public.users.create', '{"n": 2}')`,
    );
    const unsent = createEvent({ type: 'public.orders.create', payload: { n: 3 } });
    await sql.query(`INSERT INTO "${schema}".outbox (id, event) VALUES ($1, $2)`, [unsent.id, JSON.stringify(toCloudEvent(unsent))]);

    const broker = new EventBroker({ transport: transport(schema), logger: new RecordingLogger() });
    cleanups.push(() => broker.stop());
    const handled: BrokerEvent[] = [];
    await broker.subscribe('public.orders.*', (event) => void handled.push(event), { group: 'billing' });
    await broker.start();
    const relay = outbox(schema);
    await relay.connect(context);

    await waitFor(() => handled.length === 1, 'the event stored before the upgrade to be handled');
    expect(handled[0]).toMatchObject({ id: 'old-1', payload: { n: 1 } });
    const statuses = async (): Promise<string[][]> => (await broker.transport.list()).map((event) => [event.id, event.status]);
    await waitFor(async () => (await statuses())[0]?.[1] === 'completed', 'the event handled to be completed');
    expect(await statuses()).toEqual([
      ['old-1', 'completed'],
      ['old-2', 'completed'],
    ]);
    await waitFor(async () => (await relay.inner.get(unsent.id)) !== null, 'the outbox row written before the upgrade to be relayed');
    expect(await versions(sql, schema)).toEqual([
      { component: 'events', version: 1 },
      { component: 'events', version: 2 },
      { component: 'events', version: 3 },
      { component: 'events', version: 4 },
      { component: 'events', version: 5 },
      { component: 'events', version: 6 },
      { component: 'outbox', version: 1 },
    ]);
    await broker.publish(createEvent({ type: 'public.orders.update', payload: { n: 4 } }));
    await waitFor(() => handled.length === 2, 'an event published after the upgrade to be handled');
  });

  it('creates a new schema at the latest version, and a start that finds it current waits for no lock on its tables', async () => {
    const schema = newSchema();
    await transport(schema).connect(context);
    await outbox(schema).connect(context);
    const sql = await connection();
    expect(await versions(sql, schema)).toEqual([
      { component: 'events', version: 1 },
      { component: 'events', version: 2 },
      { component: 'events', version: 3 },
      { component: 'events', version: 4 },
      { component: 'events', version: 5 },
      { component: 'events', version: 6 },
      { component: 'outbox', version: 1 },
    ]);
    for (const source of EVENT_SOURCES) {
      await sql.query(`INSERT INTO "${schema}".events (id, source, type) VALUES ($1, $1, 'a.b')`, [source]);
    }

    // What traffic can never hold against another start: every table, in the strongest mode.
    const holder = await connection();
    await holder.query('BEGIN');
    await holder.query(
      `LOCK TABLE "${schema}".events, "${schema}".groups, "${schema}".deliveries, "${schema}".outbox IN ACCESS EXCLUSIVE MODE`,
    );
    const starts = Promise.all([transport(schema).connect(context), outbox(schema).connect(context)]);
    const outcome = await Promise.race([starts.then(() => 'started'), new Promise((resolve) => setTimeout(resolve, 3000, 'waited'))]);
    await holder.query('ROLLBACK');
    await starts;
    expect(outcome).toBe('started');
  });

  it('migrates once the traffic holding its tables has let go, without a deadlock on either side', async () => {
    const schema = newSchema();
    const sql = await connection();
    for (const statement of transportTablesBeforeVersions(schema)) await sql.query(statement);
    // A transaction of the traffic: it writes events for a while.
    await sql.query('BEGIN');
    await sql.query(`INSERT INTO "${schema}".events (id, source, type) VALUES ('busy', 'system', 'a.b')`);
    let migrated = false;
    const starting = transport(schema)
      .connect(context)
      .then(() => (migrated = true));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(migrated).toBe(false);
    await sql.query(`INSERT INTO "${schema}".events (id, source, type) VALUES ('still-busy', 'system', 'a.b')`);
    await sql.query('COMMIT');
    await starting;
    expect(await versions(sql, schema)).toEqual([
      { component: 'events', version: 1 },
      { component: 'events', version: 2 },
      { component: 'events', version: 3 },
      { component: 'events', version: 4 },
      { component: 'events', version: 5 },
      { component: 'events', version: 6 },
    ]);
    const { rows } = await sql.query<{ id: string }>(`SELECT id FROM "${schema}".events ORDER BY seq`);
    expect(rows.map((row) => row.id)).toEqual(['busy', 'still-busy']);
  });

  it('brings the events of the first version to the second with their statuses: the deliveries left open are handled, the failed ones replayed', async () => {
    const schema = newSchema();
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    cleanups.push(() => pool.end());
    const first = await pool.connect();
    await migrateSchema(first, { ...postgresTables(schema), migrations: POSTGRES_MIGRATIONS.slice(0, 1) });
    first.release();
    const sql = await connection();
    // What the first version's transport left: its trigger routed each event, its consumers
    // claimed, acked and dead-lettered, and it wrote every outcome on the event row as well.
    await sql.query(
      `INSERT INTO "${schema}".groups (name, patterns, type_regex) VALUES ('billing', '{public.orders.*}', '^public\\.orders\\.[^.]+$')`,
    );
    await sql.query(
      `INSERT INTO "${schema}".events (id, source, type, payload, created_at) VALUES
         ('done', 'system', 'public.orders.create', '{}', '2026-01-01T00:00:00Z'),
         ('failed', 'system', 'public.orders.update', '{}', '2026-01-01T00:00:01Z'),
         ('waiting', 'system', 'public.orders.delete', '{}', '2026-01-01T00:00:02Z'),
         ('abandoned', 'system', 'public.orders.cancel', '{}', '2026-01-01T00:00:03Z'),
         ('unrouted', 'system', 'public.users.create', '{}', '2026-01-01T00:00:04Z'),
         ('by-hand', 'system', 'public.orders.refund', '{}', '2026-01-01T00:00:05Z')`,
    );
    const deliveries = `"${schema}".deliveries`;
    const events = `"${schema}".events`;
    await sql.query(`UPDATE ${deliveries} SET state = 'done', attempts = 1 WHERE event_id IN ('done', 'by-hand')`);
    await sql.query(
      `UPDATE ${events} SET status = 'completed', processed_at = '2026-01-01T00:01:00Z', completed_at = '2026-01-01T00:02:00Z' WHERE id = 'done'`,
    );
    await sql.query(
      `UPDATE ${deliveries} SET state = 'failed', attempts = 3, error = 'old failure', dead_lettered_at = now() WHERE event_id = 'failed'`,
    );
    await sql.query(
      `UPDATE ${events} SET status = 'failed', error = 'old failure', retry_count = 2, processed_at = '2026-01-01T00:01:01Z' WHERE id = 'failed'`,
    );
    await sql.query(
      `UPDATE ${deliveries} SET state = 'processing', attempts = 1, locked_by = 'crashed', locked_until = now() - interval '1 minute' WHERE event_id = 'abandoned'`,
    );
    await sql.query(`UPDATE ${events} SET status = 'processing', processed_at = '2026-01-01T00:01:03Z' WHERE id = 'abandoned'`);
    await sql.query(`UPDATE ${events} SET status = 'failed', error = 'set by hand' WHERE id = 'by-hand'`);

    const broker = new EventBroker({ transport: transport(schema), logger: new RecordingLogger() });
    cleanups.push(() => broker.stop());
    const handled: string[] = [];
    await broker.subscribe('public.orders.*', (event) => void handled.push(event.id), { group: 'billing' });
    await broker.start();

    expect(await versions(sql, schema)).toEqual([
      { component: 'events', version: 1 },
      { component: 'events', version: 2 },
      { component: 'events', version: 3 },
      { component: 'events', version: 4 },
      { component: 'events', version: 5 },
      { component: 'events', version: 6 },
    ]);
    await waitFor(() => handled.length === 2, 'the deliveries left open to be handled');
    expect(handled.toSorted()).toEqual(['abandoned', 'waiting']);
    const statuses = async (): Promise<string[][]> => (await broker.transport.list()).map((event) => [event.id, event.status]);
    await waitFor(async () => (await broker.transport.get('waiting'))?.status === 'completed', 'the waiting event to complete');
    await waitFor(async () => (await broker.transport.get('abandoned'))?.status === 'completed', 'the abandoned event to complete');
    expect(await statuses()).toEqual([
      ['done', 'completed'],
      ['failed', 'failed'],
      ['waiting', 'completed'],
      ['abandoned', 'completed'],
      ['unrouted', 'completed'],
      ['by-hand', 'failed'],
    ]);
    expect(await broker.transport.get('done')).toMatchObject({
      processedAt: new Date('2026-01-01T00:01:00Z'),
      completedAt: new Date('2026-01-01T00:02:00Z'),
    });
    expect(await broker.transport.get('failed')).toMatchObject({ error: 'old failure', retryCount: 2 });
    expect(await broker.transport.get('by-hand')).toMatchObject({ error: 'set by hand' });
    expect((await broker.transport.get('abandoned'))?.processedAt).toEqual(new Date('2026-01-01T00:01:03Z'));

    const [letter, ...others] = await broker.transport.deadLetters();
    expect(others).toEqual([]);
    expect(letter).toMatchObject({ group: 'billing', error: 'old failure', attempts: 3, event: { id: 'failed', status: 'failed' } });
    await broker.transport.replay(letter.id);
    await waitFor(() => handled.includes('failed'), 'the replayed event to be handled');
    await waitFor(async () => (await broker.transport.get('failed'))?.status === 'completed', 'the replayed event to complete');
    expect((await broker.transport.get('failed'))?.error).toBeUndefined();
    expect((await broker.stats()).transport.groups.billing).toEqual({ pending: 0, inFlight: 0, deadLetters: 0 });
  });

  it('adds the event key to the tables of the second version: events stored before have none, those published after keep theirs', async () => {
    const schema = newSchema();
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    cleanups.push(() => pool.end());
    const second = await pool.connect();
    await migrateSchema(second, { ...postgresTables(schema), migrations: POSTGRES_MIGRATIONS.slice(0, 2) });
    second.release();
    const sql = await connection();
    await sql.query(
      `INSERT INTO "${schema}".groups (name, patterns, type_regex) VALUES ('billing', '{public.orders.*}', '^public\\.orders\\.[^.]+$')`,
    );
    await sql.query(`INSERT INTO "${schema}".events (id, source, type, payload) VALUES ('before', 'system', 'public.orders.create', '{}')`);

    const broker = new EventBroker({ transport: transport(schema), logger: new RecordingLogger() });
    cleanups.push(() => broker.stop());
    const handled: BrokerEvent[] = [];
    await broker.subscribe('public.orders.*', (event) => void handled.push(event), { group: 'billing' });
    await broker.start();
    const after = await broker.publish(createEvent({ type: 'public.orders.update', payload: {}, key: 'order-1' }));

    await waitFor(() => handled.length === 2, 'the events stored before and after the upgrade to be handled');
    expect(Object.fromEntries(handled.map((event) => [event.id, event.key]))).toEqual({ before: undefined, [after.id]: 'order-1' });
    expect(await broker.transport.get('before')).not.toHaveProperty('key');
    expect((await broker.transport.list()).map((event) => [event.id, event.key, event.status])).toEqual([
      ['before', undefined, 'completed'],
      [after.id, 'order-1', 'completed'],
    ]);
  });

  it('gives the deliveries of the fourth version routed without a key theirs, but not those handled inline, so that an ordered group orders them', async () => {
    const schema = newSchema();
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    cleanups.push(() => pool.end());
    const fourth = await pool.connect();
    await migrateSchema(fourth, { ...postgresTables(schema), migrations: POSTGRES_MIGRATIONS.slice(0, 4) });
    fourth.release();
    const sql = await connection();
    await sql.query(
      `INSERT INTO "${schema}".groups (name, patterns, type_regex) VALUES ('billing', '{public.orders.*}', '^public\\.orders\\.[^.]+$')`,
    );
    for (const n of [1, 2, 3]) {
      await sql.query(
        `INSERT INTO "${schema}".events (id, source, type, payload, key) VALUES ($1, 'system', 'public.orders.update', $2, 'order-1')`,
        [`unordered-${n}`, JSON.stringify({ n })],
      );
    }
    await sql.query(
      `INSERT INTO "${schema}".events (id, source, type, payload, key, skip_groups) VALUES ('inline', 'system', 'public.orders.update', '{}', 'order-2', '{billing}')`,
    );
    const keys = async () =>
      (
        await sql.query<{ event_id: string; ordering_key: string | null }>(
          `SELECT event_id, ordering_key FROM "${schema}".deliveries ORDER BY event_seq`,
        )
      ).rows;
    expect((await keys()).map((row) => row.ordering_key)).toEqual([null, null, null, null]);

    const broker = new EventBroker({ transport: transport(schema), logger: new RecordingLogger() });
    cleanups.push(() => broker.stop());
    const steps: string[] = [];
    await broker.subscribe<{ n: number }>(
      'public.orders.*',
      async (event) => {
        steps.push(`${event.payload.n} starts`);
        await new Promise((resolve) => setTimeout(resolve, 30));
        steps.push(`${event.payload.n} ends`);
      },
      { group: 'billing', ordered: true },
    );
    await broker.start();

    await waitFor(() => steps.length === 6, 'the three events of the key handled');
    expect(steps).toEqual(['1 starts', '1 ends', '2 starts', '2 ends', '3 starts', '3 ends']);
    expect(await keys()).toEqual([
      { event_id: 'unordered-1', ordering_key: 'order-1' },
      { event_id: 'unordered-2', ordering_key: 'order-1' },
      { event_id: 'unordered-3', ordering_key: 'order-1' },
      { event_id: 'inline', ordering_key: null },
    ]);
  });

  it('rolls back a failed outbox migration and gives its connection back', async () => {
    const schema = newSchema();
    const sql = await connection();
    await sql.query(`CREATE SCHEMA "${schema}"`);
    await sql.query(`CREATE VIEW "${schema}".outbox AS SELECT 1 AS seq`);
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    cleanups.push(() => pool.end());

    await expect(outbox(schema, { client: pool }).connect(context)).rejects.toThrow(
      `Could not migrate the outbox tables of PostgreSQL schema "${schema}": `,
    );
    expect({ connections: pool.totalCount, idle: pool.idleCount }).toEqual({ connections: 1, idle: 1 });
    const { rows } = await sql.query<{ found: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS found`, [
      `"${schema}".event_broker_migrations`,
    ]);
    expect(rows[0].found).toBe(false);
  });
});
