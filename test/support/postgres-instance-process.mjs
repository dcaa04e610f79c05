// An instance of an app on PostgreSQL in a process of its own, for the tests of instances that
// start while others run: after `delayMs`, it starts a broker consuming `load.*` in the groups
// given, keeps it up for `upMs`, stops it, and does that `cycles` times (each time a new transport,
// so new connections), or until SIGTERM asks it to finish. It prints one JSON line per start and
// per warning or error its broker logs.
import { EventBroker } from '../../dist/index.js';
import { PostgresTransport } from '../../dist/postgres.js';

const [databaseUrl, schema, delayMs, cycles, upMs, ...groups] = process.argv.slice(2);
const print = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);
const logger = {
  log() {},
  warn: (message) => print({ warn: message }),
  error: (message) => print({ error: message }),
};
let finish;
const finishing = new Promise((resolve) => (finish = resolve));
process.on('SIGTERM', () => finish());
/** Waits `ms`, or less if the process is asked to finish. */
async function pause(ms) {
  let timer;
  await Promise.race([finishing, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
process.stdout.write('ready\n');

await pause(Number(delayMs));
for (let cycle = 0; cycle < Number(cycles); cycle++) {
  const broker = new EventBroker({
    transport: new PostgresTransport({ connectionString: databaseUrl, schema, pollIntervalMs: 100 }),
    instanceId: `instance-${process.pid}-${cycle}`,
    logger,
  });
  for (const group of groups) await broker.subscribe('load.*', () => undefined, { group });
  const startedAt = performance.now();
  try {
    await broker.start();
    print({ started: cycle, ms: Math.round(performance.now() - startedAt) });
  } catch (error) {
    print({ failed: cycle, message: String(error) });
  }
  await pause(Number(upMs));
  await broker.stop();
}
print({ done: true });
