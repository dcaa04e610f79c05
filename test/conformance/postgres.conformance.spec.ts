import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { postgresFixture } from './transport-fixtures.js';

// Every test gets its own schema in the shared database. The table's constraints refuse a
// malformed event at insert, so there is no malformed message to find.
runTransportConformance('postgres', async () => postgresFixture(), {
  durable: true,
  transactional: true,
  foreignProducers: true,
  malformedMessages: false,
  orderedGroups: true,
});
