import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { redisFixture } from './transport-fixtures.js';

// The events spread over four streams of the shared Redis: what a cluster does, without one.
runTransportConformance('redis with 4 partitions', async () => redisFixture({ partitions: 4 }), {
  durable: true,
  transactional: false,
  foreignProducers: true,
  malformedMessages: true,
  orderedGroups: true,
});
