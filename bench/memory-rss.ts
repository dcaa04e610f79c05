// Peak RSS of a process that publishes 100 000 events through the memory transport, async mode,
// to one handler; run in a process of its own (by run.ts) so that no other client is loaded.
import { EventBroker, MemoryTransport, createEvent } from 'nestjs-event-broker';
import { payload, until } from './measure.js';

const COUNT = 100_000;
const broker = new EventBroker({ transport: new MemoryTransport(), logger: { log() {}, warn() {}, error() {} } });
let handled = 0;
await broker.subscribe('bench.events.*', async () => void handled++, { group: 'rss' });
await broker.start();
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
for (let n = 0; n < COUNT; n++) await broker.publish(createEvent({ type: 'bench.events.create', payload: payload(100, n) }));
await until(() => handled === COUNT, `${COUNT} events handled`);
clearInterval(sampler);
await broker.stop();
console.log(JSON.stringify({ peakRssMb: Math.round(peak / 1024 / 1024) }));
