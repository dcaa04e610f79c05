import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { natsFixture } from './transport-fixtures.js';

// Every test gets its own stream and subject prefix on the shared NATS server.
runTransportConformance('nats', async () => natsFixture(), {
  durable: true,
  transactional: false,
  foreignProducers: true,
  malformedMessages: true,
  orderedGroups: true,
  // One partition: one instance at a time owns all of an ordered group's keys.
  orderedGroupsSpread: false,
});
