import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { redisFixture } from './transport-fixtures.js';

// Every test gets its own key prefix on the shared Redis: its own stream, groups and history.
runTransportConformance('redis', async () => redisFixture(), {
  durable: true,
  transactional: false,
  foreignProducers: true,
  malformedMessages: true,
  orderedGroups: true,
  // One partition: one instance at a time handles an ordered group.
  orderedGroupsSpread: false,
});
