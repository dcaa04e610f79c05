import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, createEvent } from '../../../lib/index.js';
import { RedisTransport } from '../../../lib/redis.js';
import { uniquePrefix } from '../../support/redis.js';
import { TestRedisCluster } from '../../support/redis-cluster.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

// One cluster of three masters, each with a replica, for the file; every test has its own key prefix.
let cluster: TestRedisCluster;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  cluster = await TestRedisCluster.start({ masters: 3, replicasPerMaster: 1 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function broker(transport: RedisTransport): EventBroker {
  const created = new EventBroker({ transport, logger: new RecordingLogger() });
  cleanups.push(() => created.stop());
  return created;
}

describe('RedisTransport on a Redis Cluster', () => {
  it('spreads the partitions over the masters, and handles and lists every event', async () => {
    // A prefix of its own on the file's cluster, fixed: its partitions' slots are known to lie on more than one master.
    const keyPrefix = 'spread';
    const publisher = broker(new RedisTransport({ cluster: { nodes: cluster.nodes }, keyPrefix, partitions: 4, blockMs: 100 }));
    const handled = new Set<string>();
    await publisher.subscribe('public.**', (event) => void handled.add(event.id), { group: 'all' });
    await publisher.start();

    const published = await Promise.all(
      Array.from({ length: 200 }, (_, n) => publisher.publish(createEvent({ type: 'public.users.create', payload: { n } }))),
    );
    await waitFor(() => handled.size === 200, 'all 200 handled');

    const masters = new Set<number | undefined>();
    for (let partition = 0; partition < 4; partition++)
      masters.add(await cluster.masterOf(`${keyPrefix}:{${keyPrefix}:${partition}}:stream`));
    expect(masters.size).toBeGreaterThan(1);
    expect((await publisher.stats()).transport).toMatchObject({
      events: 200,
      streamLength: 200,
      groups: { all: { pending: 0, inFlight: 0 } },
    });
    expect(await publisher.transport.get(published[123].id)).toMatchObject({ id: published[123].id, payload: { n: 123 } });
    await waitFor(
      async () => (await publisher.transport.list({ status: 'completed', limit: 500 })).length === 200,
      'all 200 listed completed',
    );
  });

  it('works on an ioredis Cluster given as client, and leaves it open', async () => {
    const client = new Cluster(cluster.nodes);
    cleanups.push(async () => void client.disconnect());
    const keyPrefix = uniquePrefix('client');
    const transport = new RedisTransport({ client, keyPrefix, partitions: 3, blockMs: 100 });
    const handled: string[] = [];
    const consumer = broker(transport);
    await consumer.subscribe('public.**', (event) => void handled.push(event.id), { group: 'all' });
    await consumer.start();

    const event = await consumer.publish(createEvent({ type: 'public.users.create', payload: {} }));
    await waitFor(() => handled.includes(event.id), 'the event handled');
    await consumer.stop();

    expect(await client.get(`${keyPrefix}:partitions`)).toBe('3');
  });

  it('refuses one partition under a key prefix without a hash tag, and single-server options beside cluster, saying what to set', () => {
    const onePartition = { cluster: { nodes: cluster.nodes }, keyPrefix: 'orders' };
    expect(() => new RedisTransport(onePartition)).toThrow(EventBrokerError);
    expect(() => new RedisTransport(onePartition)).toThrow('set partitions to 2 or more');
    expect(() => new RedisTransport(onePartition)).toThrow('a keyPrefix with a hash tag such as {orders}');
    expect(() => new RedisTransport({ cluster: { nodes: cluster.nodes }, url: 'redis://127.0.0.1:6379', partitions: 2 })).toThrow(
      'RedisTransport option cluster takes the nodes to connect to in cluster.nodes: url cannot be given with it',
    );
    expect(() => new RedisTransport({ cluster: { nodes: [] }, partitions: 2 })).toThrow(
      'RedisTransport option cluster.nodes must list at least one node ({ host, port }), got []',
    );
  });

  it('keeps the layout before partitions under a hash-tagged key prefix', async () => {
    const keyPrefix = `{${uniquePrefix('tagged')}}`;
    const publisher = broker(new RedisTransport({ cluster: { nodes: cluster.nodes }, keyPrefix, blockMs: 100 }));
    await publisher.start();

    const event = await publisher.publish(createEvent({ type: 'public.users.create', payload: {} }));

    expect(await publisher.transport.get(event.id)).toMatchObject({ id: event.id, status: 'completed' });
    const client = new Cluster(cluster.nodes);
    cleanups.push(async () => void client.disconnect());
    expect(await client.xlen(`${keyPrefix}:stream`)).toBe(1);
  });

  it('resolves a publish once waitReplicas replicas have it, and rejects it when fewer acknowledged it in time', async () => {
    const keyPrefix = uniquePrefix('replicas');
    const nodes = cluster.nodes;
    const replicated = broker(new RedisTransport({ cluster: { nodes }, keyPrefix, partitions: 2, waitReplicas: 1 }));
    await replicated.start();
    await replicated.publish(createEvent({ type: 'public.users.create', payload: {} }));

    const overAsked = broker(new RedisTransport({ cluster: { nodes }, keyPrefix, partitions: 2, waitReplicas: 2, waitTimeoutMs: 100 }));
    await overAsked.start();
    const refused = createEvent({ type: 'public.users.create', payload: {} });
    const failure = await overAsked.publish(refused).then(
      () => undefined,
      (error: unknown) => error as Error,
    );

    expect(failure).toBeInstanceOf(EventBrokerError);
    expect(failure?.message).toMatch(/only 1 of the 2 replicas asked for \(waitReplicas\) acknowledged it within 100 ms/);
    expect(failure?.message).toContain('Publish it again');
  });
});
