import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type EventTransport } from '../../lib/index.js';
import { NatsTransport } from '../../lib/nats.js';
import { PostgresTransport } from '../../lib/postgres.js';
import { RedisTransport } from '../../lib/redis.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../support/nats.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../support/postgres.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { RecordingLogger } from '../support/silent-logger.js';
import { handlings, keysOverlapped, orderViolations } from '../support/ordered-handlings.js';
import { startTestProcess, type TestProcess } from '../support/test-process.js';
import { waitFor } from '../support/wait-for.js';

const INSTANCE_SCRIPT = fileURLToPath(new URL('../support/ordered-instance-process.mjs', import.meta.url));
const KEYS = 50;
const EVENTS_PER_KEY = 40;
const EVENTS = KEYS * EVENTS_PER_KEY;

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

interface OrderedTransport {
  name: 'postgres' | 'redis' | 'nats';
  /** The options every instance and the publisher use (plain JSON: the instances get them as text). */
  options: Record<string, unknown>;
  create(): EventTransport;
  cleanup(): Promise<void>;
}

function postgres(): OrderedTransport {
  const schema = uniqueSchema('ordered');
  const options = { connectionString: DATABASE_URL, schema, pollIntervalMs: 100, ackTimeoutMs: 2000 };
  return { name: 'postgres', options, create: () => new PostgresTransport(options), cleanup: () => dropSchema(schema) };
}

/** Four partitions for three instances, and a short lease: the killed instance's partitions are taken over within 2 s. */
function redis(): OrderedTransport {
  const keyPrefix = uniquePrefix('ordered');
  const options = { url: REDIS_URL, keyPrefix, partitions: 4, blockMs: 100, ackTimeoutMs: 2000 };
  return { name: 'redis', options, create: () => new RedisTransport(options), cleanup: () => deleteKeys(keyPrefix) };
}

/** Four partitions for three instances, and a short ack wait (the lease): the killed instance's partitions are taken over within 2 s. */
function nats(): OrderedTransport {
  const { stream, subjectPrefix } = uniqueStream('ordered');
  const options = { servers: NATS_URL, stream, subjectPrefix, partitions: 4, ackWaitMs: 2000, fetchExpiresMs: 1000 };
  return { name: 'nats', options, create: () => new NatsTransport(options), cleanup: () => deleteStreams(stream) };
}

describe.each([{ transport: postgres }, { transport: redis }, { transport: nats }])(
  'ordered groups across instances',
  ({ transport: make }) => {
    it(`keeps each key in publish order over three instances, one killed and restarted midway (${make.name})`, async () => {
      const transport = make();
      cleanups.push(() => transport.cleanup());
      const group = `ordered-${randomUUID().slice(0, 8)}`;
      const instance = (id: string): Promise<TestProcess> =>
        startTestProcess(INSTANCE_SCRIPT, [transport.name, JSON.stringify(transport.options), group, id], cleanups);
      const instances = [await instance('a'), await instance('b'), await instance('c')];
      const publisher = new EventBroker({ transport: transport.create(), logger: new RecordingLogger() });
      await publisher.start();
      cleanups.push(() => publisher.stop());

      // One event of every key per round: within a key, publish order is the round.
      for (let round = 0; round < EVENTS_PER_KEY; round++) {
        await Promise.all(
          Array.from({ length: KEYS }, (_, key) =>
            publisher.publish(createEvent({ type: 'ordering.step.run', key: `key-${key}`, payload: { n: round * KEYS + key } })),
          ),
        );
      }
      const succeeded = (): number =>
        new Set(handlings(instances).flatMap((handling) => (handling.end === undefined ? [] : [handling.n]))).size;
      await waitFor(() => succeeded() >= EVENTS / 2, 'half of the events handled', 60_000);
      instances[1].kill();
      instances.push(await instance('b'));
      await waitFor(() => succeeded() === EVENTS, `all ${EVENTS} events handled`, 90_000);

      const handled = handlings(instances);
      const duplicates = handled.filter((handling) => handling.end !== undefined).length - EVENTS;
      console.log(
        `ordered groups (${transport.name}): ${handled.length} handlings of ${EVENTS} events, ${duplicates} repeated after the crash`,
      );
      expect(orderViolations(handled)).toEqual([]);
      expect(keysOverlapped(handled)).toBe(true);
      expect(new Set(handled.map((handling) => handling.instanceId)).size).toBe(3);
    }, 180_000);
  },
);
