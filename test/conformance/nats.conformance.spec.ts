import { connect } from 'nats';
import { NatsTransport } from '../../lib/nats.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../support/nats.js';
import { describeTransportConformance } from './transport-conformance.js';

// Every test gets its own stream and subject prefix on the shared NATS server. The ack wait is well above
// what a loaded machine may delay the heartbeats by; takeovers in the suite come from brokers
// that stop and hand their work over, not from timeouts.
describeTransportConformance('nats', async () => {
  const { stream, subjectPrefix } = uniqueStream('conformance');
  return {
    createTransport: () => new NatsTransport({ servers: NATS_URL, stream, subjectPrefix, ackWaitMs: 5000, fetchExpiresMs: 1000 }),
    writeMalformed: async (body) => {
      const connection = await connect({ servers: NATS_URL });
      try {
        await connection.jetstream().publish(`${subjectPrefix}.system.public.users.create`, body);
      } finally {
        await connection.close();
      }
    },
    teardown: () => deleteStreams(stream),
  };
});
