// An outbox relay in a process of its own, for the fault tests: a broker on Redis behind the
// outbox, relaying rows in small batches, until the test kills it.
import { EventBroker } from '../../dist/index.js';
import { OutboxTransport } from '../../dist/postgres.js';
import { RedisTransport } from '../../dist/redis.js';

const [redisUrl, keyPrefix, databaseUrl, schema] = process.argv.slice(2);
const quiet = { log() {}, warn() {}, error() {} };
const broker = new EventBroker({
  transport: new OutboxTransport(new RedisTransport({ url: redisUrl, keyPrefix, blockMs: 100 }), {
    connectionString: databaseUrl,
    schema,
    batchSize: 5,
    pollIntervalMs: 50,
  }),
  instanceId: `relay-${process.pid}`,
  logger: quiet,
});
await broker.start();
process.stdout.write('ready\n');
