import { afterAll, beforeAll } from 'vitest';
import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { TestNatsCluster } from '../support/nats-cluster.js';
import { natsFixture } from './transport-fixtures.js';

// One three-node JetStream cluster for the file; every test gets its own streams on it, each on all three nodes.
let cluster: TestNatsCluster;

beforeAll(async () => {
  cluster = await TestNatsCluster.start(3);
}, 30_000);

afterAll(async () => {
  await cluster?.stop();
});

runTransportConformance('nats cluster with 3 replicas', async () => natsFixture({ servers: cluster.urls, replicas: 3 }), {
  durable: true,
  transactional: false,
  foreignProducers: true,
  malformedMessages: true,
  orderedGroups: true,
  // One partition: one instance at a time owns all of an ordered group's keys.
  orderedGroupsSpread: false,
});
