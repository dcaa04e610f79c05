// Peak RSS while 100 000 events are published through the memory transport, in async mode, to
// one handler. Run with `npm run bench` (it builds first); prints one JSON line.
import { EventBroker, MemoryTransport, createEvent } from '../dist/index.js';

const total = Number(process.env.EVENTS ?? 100_000);
const quiet = { log() {}, warn() {}, error() {} };
const broker = new EventBroker({ transport: new MemoryTransport(), logger: quiet });
let handled = 0;
await broker.subscribe(
  'public.users.*',
  async () => {
    handled++;
  },
  { group: 'bench.handler' },
);
await broker.start();

const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 10);
const started = performance.now();
for (let n = 0; n < total; n++) {
  await broker.publish(
    createEvent({ source: 'database', type: 'public.users.create', payload: { id: n, name: `user ${n}`, email: `user${n}@example.com` } }),
  );
}
const published = performance.now();
while (handled < total) await new Promise((resolve) => setTimeout(resolve, 5));
const finished = performance.now();
peak = Math.max(peak, process.memoryUsage().rss);
clearInterval(sampler);
await broker.stop();

const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
console.log(
  JSON.stringify({
    bench: 'memory-publish-rss',
    events: total,
    baselineRssMb: mb(baseline),
    peakRssMb: mb(peak),
    publishMs: Math.round(published - started),
    totalMs: Math.round(finished - started),
    eventsPerSecond: Math.round(total / ((finished - started) / 1000)),
  }),
);
