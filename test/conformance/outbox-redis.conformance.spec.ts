import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { outboxFixture, redisFixture } from './transport-fixtures.js';

// The outbox table in a schema of its own, in front of a Redis key prefix of its own, per test.
runTransportConformance('outbox over redis', async () => outboxFixture(redisFixture()), {
  durable: true,
  transactional: true,
  foreignProducers: true,
  malformedMessages: true,
  // The Redis transport's ordered groups, with one partition: one instance at a time handles an ordered group.
  orderedGroups: true,
  orderedGroupsSpread: false,
});
