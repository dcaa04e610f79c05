import { afterAll, beforeAll } from 'vitest';
import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { TestRedisCluster } from '../support/redis-cluster.js';
import { redisClusterFixture } from './transport-fixtures.js';

// One cluster of three masters for the file; every test gets its own key prefix on it.
let cluster: TestRedisCluster;

beforeAll(async () => {
  cluster = await TestRedisCluster.start({ masters: 3, replicasPerMaster: 0 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

runTransportConformance('redis cluster with 4 partitions', async () => redisClusterFixture(cluster.nodes), {
  durable: true,
  transactional: false,
  foreignProducers: true,
  malformedMessages: true,
  orderedGroups: true,
});
