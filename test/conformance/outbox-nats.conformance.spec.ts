import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { natsFixture, outboxFixture } from './transport-fixtures.js';

// The outbox table in a schema of its own, in front of a NATS stream of its own, per test.
runTransportConformance('outbox over nats', async () => outboxFixture(natsFixture()), {
  durable: true,
  transactional: true,
  foreignProducers: true,
  malformedMessages: true,
  // The NATS transport's ordered groups, with one partition: one instance at a time handles an ordered group.
  orderedGroups: true,
  orderedGroupsSpread: false,
});
