// An instance of a service in a process of its own, for the ordering tests across instances: it
// consumes `ordering.**` in one ordered group on the transport given (`postgres`, `redis` or
// `nats`, with its options as JSON) and prints one JSON line when a handling starts and one when
// it ends, with the event's key and number and the wall-clock time, so that the test can put the
// handlings of every instance on one time line. Pipes to a parent are written synchronously on
// Linux: what a killed instance printed is not lost.
import { EventBroker } from '../../dist/index.js';

const [transportName, optionsJson, group, instanceId] = process.argv.slice(2);
const print = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);
const now = () => performance.timeOrigin + performance.now();
const logger = { log() {}, warn() {}, error: (message) => print({ error: message }) };

async function transport() {
  const options = JSON.parse(optionsJson);
  if (transportName === 'postgres') return new (await import('../../dist/postgres.js')).PostgresTransport(options);
  if (transportName === 'redis') return new (await import('../../dist/redis.js')).RedisTransport(options);
  if (transportName === 'nats') return new (await import('../../dist/nats.js')).NatsTransport(options);
  throw new Error(`unknown transport ${transportName}`);
}

const broker = new EventBroker({ transport: await transport(), instanceId, logger, workerCount: 8 });
await broker.subscribe(
  'ordering.**',
  async (event) => {
    const { key } = event;
    const { n } = event.payload;
    print({ start: now(), key, n, instanceId });
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
    print({ end: now(), key, n, instanceId });
  },
  { group, ordered: true },
);
await broker.start();
process.on('SIGTERM', () => void broker.stop().then(() => process.exit(0)));
process.stdout.write('ready\n');
