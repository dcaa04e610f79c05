import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, MemoryTransport, createEvent, type BrokerEvent } from '../../../lib/index.js';
import { PostgresTransport } from '../../../lib/postgres.js';
import { freePort } from '../../support/free-port.js';
import { payloadNumbers } from '../../support/payload-numbers.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function setup() {
  const schema = uniqueSchema('pg');
  cleanups.push(() => dropSchema(schema));
  const makeBroker = (instanceId: string): EventBroker => {
    const broker = new EventBroker({
      transport: new PostgresTransport({ connectionString: DATABASE_URL, schema, ackTimeoutMs: 1000, pollIntervalMs: 50 }),
      instanceId,
      logger: new RecordingLogger(),
      retry: { initialDelayMs: 10, maxDelayMs: 50, jitter: 0, maxRetries: 0 },
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
  const client = async (): Promise<pg.Client> => {
    const connection = new pg.Client({ connectionString: DATABASE_URL });
    await connection.connect();
    cleanups.push(() => connection.end());
    return connection;
  };
  return { schema, makeBroker, client };
}

describe('PostgresTransport', () => {
  it('fails to start with an error naming the host, never the password', async () => {
    const port = await freePort();
    const broker = new EventBroker({
      transport: new PostgresTransport({ connectionString: `postgres://app:s3cret@127.0.0.1:${port}/test` }),
      logger: new RecordingLogger(),
    });
    const failure = await broker.start().then(
      () => new Error('started'),
      (error: Error) => error,
    );
    expect(failure).toBeInstanceOf(EventBrokerError);
    expect(failure.message).toContain(`Cannot reach PostgreSQL at 127.0.0.1:${port}`);
    expect(failure.message).not.toContain('s3cret');
    expect(failure.cause).toBeInstanceOf(Error);
  });

  it('stores the publishes issued together in one batch, and a publish the database refuses fails alone', async () => {
    const { makeBroker } = setup();
    const broker = makeBroker('a');
    await broker.start();

    const outcomes = await Promise.allSettled([
      broker.publish(createEvent({ type: 'public.users.create', payload: { name: 'Ada' } })),
      broker.publish(createEvent({ type: 'public.users.create', payload: { name: 'nul \u0000 char' } })),
      broker.publish(createEvent({ type: 'public.users.create', payload: { name: 'Grace' } })),
    ]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(
      /cannot be stored in PostgreSQL: its payload or metadata holds the character \\u0000/,
    );
    const stored = await broker.transport.list({ type: 'public.users.create' });
    expect(stored.map((event) => (event.payload as { name: string }).name).toSorted()).toEqual(['Ada', 'Grace']);
  });

  it('accepts 8 000 publishes issued at once: more rows than one INSERT can carry parameters for', async () => {
    const { makeBroker } = setup();
    const broker = makeBroker('importer');
    await broker.start();

    const outcomes = await Promise.allSettled(
      Array.from({ length: 8000 }, (_, n) => broker.publish(createEvent({ type: 'public.rows.import', payload: { n } }))),
    );

    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    expect((await broker.stats()).transport.events).toBe(8000);
  }, 60_000);

  it('creates its schema once when several instances start at the same time', async () => {
    const { makeBroker } = setup();
    const brokers = [makeBroker('a'), makeBroker('b'), makeBroker('c')];
    await Promise.all(brokers.map((broker) => broker.start()));
    expect((await brokers[0].stats()).transport.type).toBe('postgres');
  });

  describe('transactional outbox', () => {
    it('delivers an event published in a transaction once it commits, never if it rolls back', async () => {
      const { makeBroker, client } = setup();
      const broker = makeBroker('api');
      const handled: BrokerEvent[] = [];
      await broker.subscribe('public.orders.*', (event) => void handled.push(event), { group: 'billing' });
      await broker.start();
      const tx = await client();

      await tx.query('BEGIN');
      const committed = await broker.publish(createEvent({ type: 'public.orders.create', payload: { n: 1 } }), { tx });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(handled).toEqual([]);
      expect(await broker.transport.get(committed.id)).toBeNull();
      await tx.query('COMMIT');
      await waitFor(() => handled.length === 1, 'the committed event to be handled');
      expect(handled[0].id).toBe(committed.id);

      await tx.query('BEGIN');
      const rolledBack = await broker.publish(createEvent({ type: 'public.orders.create', payload: { n: 2 } }), { tx });
      await tx.query('ROLLBACK');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(handled.map((event) => event.id)).toEqual([committed.id]);
      expect(await broker.transport.get(rolledBack.id)).toBeNull();
    });

    it('refuses a transaction on a transport that cannot take one', async () => {
      const broker = new EventBroker({ transport: new MemoryTransport(), logger: new RecordingLogger() });
      cleanups.push(() => broker.stop());
      await broker.start();
      await expect(broker.publish(createEvent({ type: 'a.b.c', payload: 1 }), { tx: { query: async () => undefined } })).rejects.toThrow(
        /the memory transport does not take one \(the postgres transport does\)/,
      );
    });
  });

  it('delivers a row inserted into the events table by another program', async () => {
    const { schema, makeBroker, client } = setup();
    const broker = makeBroker('consumer');
    const seen: BrokerEvent[] = [];
    await broker.subscribe('billing.invoices.*', (event) => void seen.push(event), { group: 'billing' });
    await broker.start();
    const sql = await client();
    await sql.query(
      `INSERT INTO "${schema}".events (id, source, type, payload) VALUES ('inv-1', 'system', 'billing.invoices.create', '{"total": 5}')`,
    );
    await waitFor(() => seen.length === 1, 'the foreign row to be handled');
    expect(seen[0]).toMatchObject({ id: 'inv-1', payload: { total: 5 } });
    await expect(sql.query(`INSERT INTO "${schema}".events (id, source, type) VALUES ('x', 'nowhere', 'a.b')`)).rejects.toThrow(
      /check constraint/,
    );
  });

  it('filters the history in SQL, newest last', async () => {
    const { makeBroker } = setup();
    const broker = makeBroker('api-1');
    await broker.subscribe(
      'public.users.delete',
      () => {
        throw new Error('no deletes');
      },
      { group: 'guard' },
    );
    await broker.start();
    const base = Date.UTC(2026, 0, 1);
    for (let n = 0; n < 6; n++) {
      await broker.publish(
        createEvent({
          type: n % 2 ? 'public.users.delete' : 'public.orders.create',
          source: n < 3 ? 'database' : 'frontend',
          payload: { n },
          userId: n % 3 === 0 ? 7 : 'u-1',
          createdAt: new Date(base + n * 1000),
        }),
      );
    }
    await waitFor(async () => (await broker.transport.list({ status: 'failed' })).length === 3, 'three deletes failed');
    expect(payloadNumbers(await broker.transport.list())).toEqual([0, 1, 2, 3, 4, 5]);
    expect(payloadNumbers(await broker.transport.list({ type: 'public.users.*' }))).toEqual([1, 3, 5]);
    expect(payloadNumbers(await broker.transport.list({ source: 'frontend' }))).toEqual([3, 4, 5]);
    expect(payloadNumbers(await broker.transport.list({ userId: 7 }))).toEqual([0, 3]);
    expect(payloadNumbers(await broker.transport.list({ since: new Date(base + 2000), until: new Date(base + 4000) }))).toEqual([2, 3, 4]);
    expect(payloadNumbers(await broker.transport.list({ limit: 2, offset: 2 }))).toEqual([2, 3]);
    const [first] = await broker.transport.list({ limit: 1, offset: 5 });
    expect(first).toMatchObject({ userId: 7, status: 'completed' });
    expect(await broker.transport.delete(first.id)).toBe(true);
    expect(await broker.transport.delete(first.id)).toBe(false);
  });

  it('tails new events matching a pattern', async () => {
    const { makeBroker } = setup();
    const broker = makeBroker('api');
    await broker.start();
    const tail = broker.transport.stream('public.users.*')[Symbol.asyncIterator]();
    await broker.publish(createEvent({ type: 'public.orders.create', payload: { n: 1 } }));
    const wanted = await broker.publish(createEvent({ type: 'public.users.create', payload: { n: 2 } }));
    expect((await tail.next()).value).toMatchObject({ id: wanted.id, payload: { n: 2 } });
    await tail.return?.();
  });
});
