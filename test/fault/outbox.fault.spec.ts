import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, toCloudEvent, type BrokerEvent } from '../../lib/index.js';
import { OutboxTransport } from '../../lib/postgres.js';
import { RedisTransport } from '../../lib/redis.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../support/postgres.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { TestRedisServer } from '../support/redis-server.js';
import { RecordingLogger } from '../support/silent-logger.js';
import { startTestProcess } from '../support/test-process.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

interface Setup {
  redisUrl: string;
  keyPrefix: string;
  schema: string;
  broker(instanceId: string, relay?: { batchSize: number }): EventBroker;
  commitEvents(broker: EventBroker, count: number, options?: { rollback?: boolean }): Promise<BrokerEvent[]>;
}

function setup(redisUrl = REDIS_URL): Setup {
  const keyPrefix = uniquePrefix('outbox');
  const schema = uniqueSchema('outbox');
  cleanups.push(() => dropSchema(schema));
  if (redisUrl === REDIS_URL) cleanups.push(() => deleteKeys(keyPrefix));
  return {
    redisUrl,
    keyPrefix,
    schema,
    broker(instanceId, relay = { batchSize: 100 }) {
      const created = new EventBroker({
        transport: new OutboxTransport(new RedisTransport({ url: redisUrl, keyPrefix, blockMs: 100 }), {
          connectionString: DATABASE_URL,
          schema,
          pollIntervalMs: 50,
          ...relay,
        }),
        instanceId,
        logger: new RecordingLogger(),
      });
      cleanups.push(() => created.stop());
      return created;
    },
    async commitEvents(broker, count, options = {}) {
      const tx = new pg.Client({ connectionString: DATABASE_URL });
      await tx.connect();
      try {
        const published: BrokerEvent[] = [];
        for (let n = 0; n < count; n++) {
          await tx.query('BEGIN');
          published.push(await broker.publish(createEvent({ type: 'public.orders.create', payload: { n } }), { tx }));
          await tx.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
        }
        return published;
      } finally {
        await tx.end();
      }
    },
  };
}

function counter(broker: EventBroker): Map<string, number> {
  const counts = new Map<string, number>();
  void broker.subscribe('public.orders.*', (event) => void counts.set(event.id, (counts.get(event.id) ?? 0) + 1), { group: 'billing' });
  return counts;
}

describe('transactional outbox in front of Redis', () => {
  it('delivers committed events once and rolled-back ones never', async () => {
    const { broker, commitEvents } = setup();
    const app = broker('api');
    const counts = counter(app);
    await app.start();
    const committed = await commitEvents(app, 5);
    const rolledBack = await commitEvents(app, 3, { rollback: true });
    await waitFor(() => committed.every((event) => counts.get(event.id) === 1), 'the committed events handled');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(rolledBack.some((event) => counts.has(event.id))).toBe(false);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
  });

  it('loses nothing committed while Redis is down: the relay sends it once Redis is back', async () => {
    const server = await TestRedisServer.start();
    cleanups.push(() => server.stop());
    const { broker, commitEvents, schema } = setup(server.url);
    const app = broker('api');
    const counts = counter(app);
    await app.start();
    await server.kill();
    const committed = await commitEvents(app, 20);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sql = new pg.Client({ connectionString: DATABASE_URL });
    await sql.connect();
    cleanups.push(() => sql.end());
    const unsent = await sql.query(`SELECT count(*)::int AS count FROM "${schema}".outbox WHERE sent_at IS NULL`);
    expect(unsent.rows[0].count).toBe(20);
    expect(counts.size).toBe(0);
    await server.restart();
    await waitFor(() => committed.every((event) => counts.has(event.id)), 'every committed event handled after Redis is back', 30_000);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
  }, 60_000);

  it('loses nothing when a relay process is killed in the middle of a batch', async () => {
    const context = setup();
    const consumer = new EventBroker({
      transport: new RedisTransport({ url: context.redisUrl, keyPrefix: context.keyPrefix, blockMs: 100 }),
      logger: new RecordingLogger(),
    });
    cleanups.push(() => consumer.stop());
    const counts = counter(consumer);
    await consumer.start();
    // Creates the outbox table; the rows below are then written as committed business transactions would.
    const tableMaker = context.broker('setup');
    await tableMaker.start();
    await tableMaker.stop();
    const sql = new pg.Client({ connectionString: DATABASE_URL });
    await sql.connect();
    cleanups.push(() => sql.end());
    const committed = Array.from({ length: 200 }, (_, n) =>
      createEvent({ type: 'public.orders.create', payload: { n }, instanceId: 'api' }),
    );
    for (const event of committed) {
      await sql.query(`INSERT INTO "${context.schema}".outbox (id, event) VALUES ($1, $2)`, [
        event.id,
        JSON.stringify(toCloudEvent(event)),
      ]);
    }

    const child = await startTestProcess(
      'test/support/outbox-relay-process.mjs',
      [context.redisUrl, context.keyPrefix, DATABASE_URL, context.schema],
      cleanups,
    );
    await waitFor(() => counts.size > 0, 'the relay process to forward some events', 10_000);
    child.kill();
    const beforeTakeover = counts.size;

    const survivor = context.broker('survivor');
    await survivor.start();
    await waitFor(() => committed.every((event) => counts.has(event.id)), 'every committed event handled', 30_000);
    const duplicates = [...counts.values()].filter((count) => count > 1).length;
    console.log(
      `outbox relay killed mid-batch: ${committed.length} committed, ${beforeTakeover} forwarded before the kill, ${counts.size} handled, ${duplicates} more than once`,
    );
    expect(beforeTakeover).toBeLessThan(committed.length);
  }, 60_000);
});
