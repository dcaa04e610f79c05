import { MemoryTransport } from '../../lib/index.js';
import { runTransportConformance } from 'nestjs-event-broker/conformance';

// One MemoryTransport per test, shared by every broker of the test: brokers sharing it behave like
// instances of one service. It counts the brokers that connected and closes with the last of them.
runTransportConformance(
  'memory',
  async () => {
    const transport = new MemoryTransport({ maxEvents: 10_000 });
    return {
      createTransport: () => transport,
      teardown: () => transport.close(),
    };
  },
  { durable: false, transactional: false, foreignProducers: false, malformedMessages: false, orderedGroups: true },
);
