import { afterAll, beforeAll, expect, it } from 'vitest';
import { EventBroker, createEvent } from '../../lib/index.js';
import { RedisTransport } from '../../lib/redis.js';
import { partitionOf } from '../../lib/core/partition-key.js';
import { uniquePrefix } from '../support/redis.js';
import { TestRedisCluster } from '../support/redis-cluster.js';
import { RecordingLogger } from '../support/silent-logger.js';
import { waitFor } from '../support/wait-for.js';

let cluster: TestRedisCluster;

beforeAll(async () => {
  cluster = await TestRedisCluster.start({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1000 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

it('handles every publish it acknowledged after the master of a partition is killed and its replica takes over', async () => {
  const keyPrefix = uniquePrefix('failover');
  const broker = new EventBroker({
    transport: new RedisTransport({
      cluster: { nodes: cluster.nodes },
      keyPrefix,
      partitions: 4,
      waitReplicas: 1,
      waitTimeoutMs: 200,
      blockMs: 100,
      ackTimeoutMs: 1000,
    }),
    logger: new RecordingLogger(),
    retry: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0 },
  });
  const handled = new Set<number>();
  await broker.subscribe('public.orders.*', (event) => void handled.add((event.payload as { n: number }).n), { group: 'orders' });
  await broker.start();
  const killed = await cluster.masterOf(`${keyPrefix}:{${keyPrefix}:0}:stream`);
  if (killed === undefined) throw new Error('no master serves partition 0');

  const stream = `${keyPrefix}:{${keyPrefix}:0}:stream`;
  const accepted: number[] = [];
  const refused: number[] = [];
  let acceptedInKilledPartitionAfterKill = 0;
  let recovering: Promise<void> | undefined;
  // Publishes 10 ms apart: the master of partition 0 dies after 80; once its replica has taken
  // over, the old master rejoins as the new one's replica, and publishes to partition 0 are
  // acknowledged again (until then the new master has no replica to acknowledge them).
  const deadline = Date.now() + 30_000;
  for (let n = 0; n < 300 || (acceptedInKilledPartitionAfterKill < 5 && Date.now() < deadline); n++) {
    if (n === 80) {
      await cluster.kill(killed);
      recovering = waitFor(
        async () => ![killed, undefined].includes(await cluster.masterOf(stream)),
        'the replica to take over',
        15_000,
      ).then(() => cluster.restart(killed));
    }
    const event = createEvent({ type: 'public.orders.create', payload: { n } });
    try {
      await broker.publish(event);
      accepted.push(n);
      if (recovering && partitionOf(event.id, 4) === 0) acceptedInKilledPartitionAfterKill++;
    } catch {
      // Refused (the partition's master is down, or no replica acknowledged the write): not
      // acknowledged, so not promised; the publisher may publish it again.
      refused.push(n);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await recovering;

  await waitFor(() => accepted.every((n) => handled.has(n)), 'every acknowledged publish handled', 30_000);
  console.log(
    `redis cluster failover: ${accepted.length} acknowledged (${acceptedInKilledPartitionAfterKill} in the killed partition after the kill), ` +
      `${refused.length} refused, ${handled.size} handled`,
  );
  expect(refused.length).toBeGreaterThan(0);
  expect(acceptedInKilledPartitionAfterKill).toBeGreaterThan(0);
  await broker.stop();
}, 90_000);
