import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type BrokerEvent } from '../../lib/index.js';
import { RedisTransport } from '../../lib/redis.js';
import { uniquePrefix } from '../support/redis.js';
import { TestRedisServer } from '../support/redis-server.js';
import { RecordingLogger } from '../support/silent-logger.js';
import { startTestProcess } from '../support/test-process.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function broker(url: string, keyPrefix: string, instanceId: string, logger = new RecordingLogger()): EventBroker {
  const created = new EventBroker({
    transport: new RedisTransport({ url, keyPrefix, blockMs: 100, ackTimeoutMs: 1000 }),
    instanceId,
    logger,
    retry: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0 },
  });
  cleanups.push(() => created.stop());
  return created;
}

function event(n: number): BrokerEvent {
  return createEvent({ type: 'public.orders.create', source: 'database', payload: { n } });
}

describe('Redis faults', () => {
  it('handles every accepted event after the server restarts mid-stream', async () => {
    const server = await TestRedisServer.start();
    cleanups.push(() => server.stop());
    const keyPrefix = uniquePrefix('restart');
    const logger = new RecordingLogger();
    const worker = broker(server.url, keyPrefix, 'worker', logger);
    const handled = new Map<number, number>();
    await worker.subscribe(
      'public.orders.*',
      (delivered) => {
        const n = (delivered.payload as { n: number }).n;
        handled.set(n, (handled.get(n) ?? 0) + 1);
      },
      { group: 'orders' },
    );
    await worker.start();

    const accepted: number[] = [];
    const publishing = (async () => {
      for (let n = 0; n < 400; n++) {
        try {
          await worker.publish(event(n));
          accepted.push(n);
        } catch {
          // Not accepted: the publisher was told, nothing to check.
        }
        if (n === 150)
          void server
            .kill()
            .then(() => new Promise((resolve) => setTimeout(resolve, 500)))
            .then(() => server.restart());
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    await publishing;

    await waitFor(() => accepted.every((n) => handled.has(n)), 'every accepted event handled after the restart', 30_000);
    const duplicates = [...handled.values()].filter((count) => count > 1).length;
    console.log(`redis restart: ${accepted.length} accepted, ${handled.size} handled, ${duplicates} handled more than once`);
    expect(accepted.length).toBeGreaterThan(150);
    const said = logger.lines.map((line) => line.message).join('\n');
    expect(said).toMatch(/Redis connection to 127\.0\.0\.1:\d+ lost, reconnecting/);
    expect(said).toMatch(/Redis connection to 127\.0\.0\.1:\d+ is back/);
  }, 60_000);

  it('hands the events of a consumer killed mid-handler to another instance', async () => {
    const server = await TestRedisServer.start();
    cleanups.push(() => server.stop());
    const keyPrefix = uniquePrefix('sigkill');
    const child = await startTestProcess('test/support/redis-consumer-process.mjs', [server.url, keyPrefix, 'workers'], cleanups);

    const publisher = broker(server.url, keyPrefix, 'publisher');
    await publisher.start();
    const published = await publisher.publish(event(1));
    await waitFor(() => child.lines.includes(`started ${published.id}`), 'the child to start handling the event', 10_000);
    child.kill();

    const survivor = broker(server.url, keyPrefix, 'survivor');
    const handled: BrokerEvent[] = [];
    await survivor.subscribe('public.**', (delivered) => void handled.push(delivered), { group: 'workers' });
    await survivor.start();
    await waitFor(() => handled.length === 1, 'the survivor to take over the event', 15_000);
    expect(handled[0]).toMatchObject({ id: published.id, retryCount: 1 });
    await waitFor(async () => (await survivor.transport.get(published.id))?.status === 'completed', 'status completed', 5000);
  }, 60_000);

  it('stops within its shutdown timeout while the server is down (a read queued on a reconnecting client is not waited for)', async () => {
    const server = await TestRedisServer.start();
    cleanups.push(() => server.stop());
    const consumer = broker(server.url, uniquePrefix('down'), 'consumer');
    await consumer.subscribe('public.orders.*', () => undefined, { group: 'orders' });
    await consumer.start();
    await server.kill();
    // Long enough for the blocking reader to be reconnecting with its read queued.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const started = Date.now();
    await consumer.stop();
    expect(Date.now() - started).toBeLessThan(5000);
  }, 30_000);
});
