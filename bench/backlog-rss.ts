// Peak RSS of a process whose Redis consumer has a backlog of `count` events behind a slow
// handler (10 ms, 10 workers) while a producer in the same process publishes them; run in a
// process of its own (by run.ts) so that what other sections left in the heap does not count.
import { randomUUID } from 'node:crypto';
import { EventBroker, createEvent } from 'nestjs-event-broker';
import { RedisTransport } from 'nestjs-event-broker/redis';
import { payload, throughput } from './measure.js';
import { deleteRedisKeys } from './redis-keys.js';

const count = Number(process.argv[2]);
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const quiet = { log() {}, warn() {}, error() {} };
const keyPrefix = `bench-${randomUUID().slice(0, 8)}`;
const producer = new EventBroker({ transport: new RedisTransport({ url, keyPrefix }), logger: quiet });
const consumer = new EventBroker({ transport: new RedisTransport({ url, keyPrefix, blockMs: 100 }), logger: quiet });
let handled = 0;
await consumer.subscribe(
  'bench.events.*',
  async () => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    handled++;
  },
  { group: 'slow' },
);
await consumer.start();
await producer.start();
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
await throughput(
  count,
  100,
  (n) => producer.publish(createEvent({ type: 'bench.events.create', payload: payload(100, n) })),
  () => count,
);
await new Promise((resolve) => setTimeout(resolve, 2000));
clearInterval(sampler);
await consumer.stop();
await producer.stop();
await deleteRedisKeys(url, keyPrefix);
console.log(JSON.stringify({ peakRssMb: Math.round(peak / 1024 / 1024), handledMeanwhile: handled }));
