import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EVENT_SOURCES } from '../../../lib/core/broker-event.interface.js';
import { EventBroker, MemoryTransport, createEvent, toCloudEvent, type BrokerEvent } from '../../../lib/index.js';
import { OutboxTransport, PostgresTransport } from '../../../lib/postgres.js';
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
    expect(await versions(sql, schema)).toEqual([{ component: 'events', version: 1 }]);
    const { rows } = await sql.query<{ id: string }>(`SELECT id FROM "${schema}".events ORDER BY seq`);
    expect(rows.map((row) => row.id)).toEqual(['busy', 'still-busy']);
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
