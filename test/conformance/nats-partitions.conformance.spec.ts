import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { natsFixture } from './transport-fixtures.js';

// The events spread over four streams of the shared NATS server: what a cluster does, without one.
runTransportConformance('nats with 4 partitions', async () => natsFixture({ partitions: 4 }), {
  durable: true,
  transactional: false,
  foreignProducers: true,
  malformedMessages: true,
  orderedGroups: true,
});
