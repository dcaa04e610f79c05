import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent } from '../../../lib/index.js';
import { RedisTransport } from '../../../lib/redis.js';
import { startLatencyProxy } from '../../support/latency-proxy.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../../support/redis.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('RedisTransport, instances of one group', () => {
  for (const partitions of [1, 3]) {
    it(`share a burst that lands while both wait, the one farther from Redis included (${partitions} partition${partitions === 1 ? '' : 's'})`, async () => {
      const { hostname, port } = new URL(REDIS_URL);
      // 40 ms each way: the far instance learns of the burst, and could ask for it, 80 ms after the near one.
      const proxy = await startLatencyProxy({ host: hostname, port: Number(port || 6379) }, 40);
      cleanups.push(() => proxy.close());
      const keyPrefix = uniquePrefix('burst');
      cleanups.push(() => deleteKeys(keyPrefix));
      const handled: Record<string, string[]> = { near: [], far: [] };
      const start = async (name: 'near' | 'far', url: string): Promise<EventBroker> => {
        const broker = new EventBroker({
          transport: new RedisTransport({ url, keyPrefix, partitions, blockMs: 5000, ackTimeoutMs: 5000 }),
          instanceId: name,
          logger: new RecordingLogger(),
        });
        cleanups.push(() => broker.stop());
        await broker.subscribe(
          'orders.*',
          async (event) => {
            handled[name].push(event.id);
            await pause(20);
          },
          { group: 'billing' },
        );
        await broker.start();
        return broker;
      };
      const near = await start('near', REDIS_URL);
      await start('far', `redis://${hostname}:${proxy.port}`);
      await pause(1000);

      const count = 40;
      const events = Array.from({ length: count }, (_, n) => createEvent({ type: 'orders.placed', key: `order-${n}`, payload: { n } }));
      await Promise.all(events.map((event) => near.publish(event)));
      await waitFor(() => handled.near.length + handled.far.length >= count, `the ${count} events handled`, 10_000);
      await pause(200);

      expect([...handled.near, ...handled.far].toSorted()).toEqual(events.map((event) => event.id).toSorted());
      expect(handled.near.length).toBeGreaterThanOrEqual(count / 4);
      expect(handled.far.length).toBeGreaterThanOrEqual(count / 4);
    });
  }
});
