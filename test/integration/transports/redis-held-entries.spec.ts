import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent } from '../../../lib/index.js';
import { partitionOf } from '../../../lib/core/partition-key.js';
import { RedisTransport } from '../../../lib/redis.js';
import { consumeAs } from '../../../lib/testing/conformance/test-consumer.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../../support/redis.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { deferred, waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A key of `partition` among two partitions. */
function keyIn(partition: number, name: string): string {
  for (let n = 0; ; n++) if (partitionOf(`${name}-${n}`, 2) === partition) return `${name}-${n}`;
}

describe('RedisTransport, an entry a blocking read took while the worker pool was full', () => {
  it('is handled once, as a first attempt, when another subscription kept the pool full longer than the ack timeout', async () => {
    const keyPrefix = uniquePrefix('held');
    cleanups.push(() => deleteKeys(keyPrefix));
    const broker = new EventBroker({
      // A read blocks far longer than a lease: it is still waiting when the pool fills up.
      transport: new RedisTransport({ url: REDIS_URL, keyPrefix, partitions: 2, blockMs: 10_000, ackTimeoutMs: 500 }),
      bufferSize: 2,
      workerCount: 2,
      logger: new RecordingLogger(),
    });
    cleanups.push(() => broker.stop());
    const slowGate = deferred();
    let slowRunning = 0;
    await broker.subscribe(
      'slow.*',
      async () => {
        slowRunning++;
        await slowGate.promise;
      },
      { group: 'slow' },
    );
    const attempts: number[] = [];
    await broker.subscribe(
      'fast.*',
      async (_event, info) => {
        attempts.push(info.attempt);
      },
      { group: 'fast' },
    );
    await broker.start();
    await pause(300);

    // Two slow events in partition 0 fill the pool; the fast group's read of partition 1 still waits.
    await broker.publish(createEvent({ type: 'slow.x', key: keyIn(0, 'slow'), payload: {} }));
    await broker.publish(createEvent({ type: 'slow.x', key: keyIn(0, 'slow'), payload: {} }));
    await waitFor(() => slowRunning === 2, 'both slow handlers running');
    await pause(300);
    await broker.publish(createEvent({ type: 'fast.x', key: keyIn(1, 'fast'), payload: {} }));

    // The pool stays full for several ack timeouts.
    await pause(2500);
    slowGate.resolve();
    await waitFor(() => attempts.length >= 1, 'the fast event handled');
    await pause(1500);

    expect(attempts).toEqual([1]);
  });

  it('hands out no more than the room left when the read returns (the pool shared with other subscriptions filled meanwhile)', async () => {
    const keyPrefix = uniquePrefix('room');
    cleanups.push(() => deleteKeys(keyPrefix));
    const transport = new RedisTransport({ url: REDIS_URL, keyPrefix, blockMs: 10_000, ackTimeoutMs: 10_000 });
    await transport.connect();
    cleanups.push(() => transport.close());
    const consumer = await consumeAs(transport, 'billing', ['orders.*'], 4);
    cleanups.push(() => consumer.consumer.close());
    await pause(300);

    // Other subscriptions took three of the four places while the read waited.
    consumer.setCapacity(1);
    // Published together: one script appends them, and the waiting read takes them at once.
    await Promise.all([0, 1, 2, 3].map((n) => transport.publish(createEvent({ type: 'orders.placed', payload: { n } }))));
    await pause(500);

    expect(consumer.deliveries.length).toBe(1);

    // The others wait for room, and go once there is some.
    consumer.setCapacity(4);
    await consumer.deliveries[0].ack();
    await consumer.received(4);
    expect(consumer.deliveries.map((delivery) => delivery.attempt)).toEqual([1, 1, 1, 1]);
    expect(new Set(consumer.deliveries.map((delivery) => delivery.event.id)).size).toBe(4);
  });
});
