import { Redis } from 'ioredis';
import { RedisTransport } from '../../lib/redis.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { describeTransportConformance } from './transport-conformance.js';

// Every test gets its own key prefix on the shared Redis: its own stream, groups and history.
// The ack timeout is well above what a loaded machine may delay the heartbeats by; takeovers in
// the suite come from brokers that stop and hand their work over, not from timeouts.
describeTransportConformance('redis', async () => {
  const keyPrefix = uniquePrefix('conformance');
  return {
    createTransport: () => new RedisTransport({ url: REDIS_URL, keyPrefix, blockMs: 100, ackTimeoutMs: 5000 }),
    writeMalformed: async (body) => {
      const client = new Redis(REDIS_URL);
      try {
        await client.xadd(`${keyPrefix}:stream`, '*', 'event', body);
      } finally {
        client.disconnect();
      }
    },
    teardown: () => deleteKeys(keyPrefix),
  };
});
