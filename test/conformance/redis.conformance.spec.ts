import { Redis } from 'ioredis';
import { RedisTransport } from '../../lib/redis.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { describeTransportConformance } from './transport-conformance.js';

// Every test gets its own key prefix on the shared Redis: its own stream, groups and history.
// Short timeouts so that takeovers and retries show within the suite's waits.
describeTransportConformance('redis', async () => {
  const keyPrefix = uniquePrefix('conformance');
  return {
    createTransport: () => new RedisTransport({ url: REDIS_URL, keyPrefix, blockMs: 100, ackTimeoutMs: 1000 }),
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
