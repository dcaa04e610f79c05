import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, createEvent, type BrokerEvent } from '../../../lib/index.js';
import type { Delivery } from '../../../lib/core/event-transport.interface.js';
import { PostgresTransport } from '../../../lib/postgres.js';
import { freePort } from '../../support/free-port.js';
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

  it("never hands out an ordered group's event while a later one of its key, whose transaction committed first, is in flight", async () => {
    const { makeBroker, client } = setup();
    const instances = [makeBroker('a'), makeBroker('b')];
    const running: string[] = [];
    const handled: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    for (const broker of instances) {
      await broker.subscribe<{ n: number }>(
        'public.orders.*',
        async (event) => {
          running.push(`${event.payload.n} starts`);
          if (event.payload.n === 2) await held;
          handled.push(String(event.payload.n));
          running.push(`${event.payload.n} ends`);
        },
        { group: 'ordered', ordered: true },
      );
      await broker.start();
    }
    const [first, second] = [await client(), await client()];
    await first.query('BEGIN');
    await instances[0].publishAsync({ type: 'public.orders.create', payload: { n: 1 }, key: 'order-1' }, { tx: first });
    await instances[0].publishAsync({ type: 'public.orders.update', payload: { n: 2 }, key: 'order-1' }, { tx: second });
    try {
      await waitFor(() => running.includes('2 starts'), 'the event committed first to be handled');
      await first.query('COMMIT');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(running).toEqual(['2 starts']);
    } finally {
      release();
    }
    await waitFor(() => handled.length === 2, 'both events handled');
    expect(running).toEqual(['2 starts', '2 ends', '1 starts', '1 ends']);
  });

  it('creates its schema once when several instances start at the same time', async () => {
    const { makeBroker } = setup();
    const brokers = [makeBroker('a'), makeBroker('b'), makeBroker('c')];
    await Promise.all(brokers.map((broker) => broker.start()));
    expect((await brokers[0].stats()).transport.type).toBe('postgres');
  });

  it('refuses a row another program inserts with a source that is no event source', async () => {
    const { schema, makeBroker, client } = setup();
    await makeBroker('api').start();
    const sql = await client();
    await expect(sql.query(`INSERT INTO "${schema}".events (id, source, type) VALUES ('x', 'nowhere', 'a.b')`)).rejects.toThrow(
      /check constraint/,
    );
  });

  it('deletes the events completed before the retention window and keeps the others', async () => {
    const { schema, client } = setup();
    const transport = new PostgresTransport({ connectionString: DATABASE_URL, schema, retentionDays: 1, cleanupIntervalMs: 100 });
    cleanups.push(() => transport.close());
    await transport.connect({ logger: new RecordingLogger() });
    const held: Delivery[] = [];
    const flow = { capacity: () => 10, whenReady: async () => undefined };
    const consumer = await transport.consume(
      { group: 'g', patterns: ['kept.*', 'done.*'], consumerName: 'c' },
      (delivery) => void held.push(delivery),
      flow,
    );
    cleanups.push(() => consumer.close());
    const threeDaysAgo = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    const old = (type: string): BrokerEvent => createEvent({ type, payload: {}, createdAt: threeDaysAgo });
    const [unrouted, doneLongAgo, doneNow, handling, failed] = [old('other.x'), old('done.x'), old('done.y'), old('kept.x'), old('kept.y')];
    const recent = createEvent({ type: 'other.y', payload: {} });
    for (const event of [unrouted, doneLongAgo, doneNow, handling, failed, recent]) await transport.publish(event);
    await waitFor(() => held.length === 4, 'the four routed events handed out');
    const delivery = (event: BrokerEvent): Delivery => held.find((one) => one.event.id === event.id) as Delivery;
    await delivery(doneLongAgo).ack();
    await delivery(doneNow).ack();
    await delivery(failed).deadLetter('broken');
    const sql = await client();
    await sql.query(`UPDATE "${schema}".deliveries SET done_at = now() - interval '2 days' WHERE event_id = $1`, [doneLongAgo.id]);

    await waitFor(async () => (await transport.get(doneLongAgo.id)) === null, 'the event done two days ago deleted');
    await waitFor(async () => (await transport.get(unrouted.id)) === null, 'the unrouted event of three days ago deleted');
    expect((await transport.list()).map((event) => [event.id, event.status])).toEqual([
      [doneNow.id, 'completed'],
      [handling.id, 'processing'],
      [failed.id, 'failed'],
      [recent.id, 'completed'],
    ]);
  });
});
