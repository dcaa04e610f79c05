import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, createEvent } from '../../../lib/index.js';
import { PostgresTransport } from '../../../lib/postgres.js';
import { freePort } from '../../support/free-port.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
import { RecordingLogger } from '../../support/silent-logger.js';

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

  it('refuses a row another program inserts with a source that is no event source', async () => {
    const { schema, makeBroker, client } = setup();
    await makeBroker('api').start();
    const sql = await client();
    await expect(sql.query(`INSERT INTO "${schema}".events (id, source, type) VALUES ('x', 'nowhere', 'a.b')`)).rejects.toThrow(
      /check constraint/,
    );
  });
});
