// A consumer in a process of its own, for the fault tests: it announces each event it starts
// handling on stdout ("started <id>") and then never finishes, until the test kills it.
import { EventBroker } from '../../dist/index.js';
import { RedisTransport } from '../../dist/redis.js';

const [url, keyPrefix, group] = process.argv.slice(2);
const quiet = { log() {}, warn() {}, error() {} };
const broker = new EventBroker({
  transport: new RedisTransport({ url, keyPrefix, blockMs: 100, ackTimeoutMs: 1000 }),
  instanceId: `child-${process.pid}`,
  logger: quiet,
});
await broker.subscribe(
  'public.**',
  async (event) => {
    process.stdout.write(`started ${event.id}\n`);
    await new Promise(() => undefined);
  },
  { group },
);
await broker.start();
process.stdout.write('ready\n');
