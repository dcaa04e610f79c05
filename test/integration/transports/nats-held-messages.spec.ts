import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent } from '../../../lib/index.js';
import { NatsTransport } from '../../../lib/nats.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../../support/nats.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { deferred, waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('NatsTransport group consumer: the per-partition pulls within the room of the worker pool', () => {
  it('messages a pull brings once other subscriptions filled the pool are handled once each, as first attempts, and within bufferSize', async () => {
    const names = uniqueStream('held');
    cleanups.push(() => deleteStreams(names.stream));
    const broker = new EventBroker({
      // A pull waits far longer than the ack wait: it is still waiting when the pool fills up.
      transport: new NatsTransport({ servers: NATS_URL, ...names, ackWaitMs: 500, fetchExpiresMs: 10_000 }),
      bufferSize: 4,
      workerCount: 8,
      logger: new RecordingLogger(),
    });
    cleanups.push(() => broker.stop());
    const gate = deferred();
    let running = 0;
    let mostRunning = 0;
    const hold = async (): Promise<void> => {
      mostRunning = Math.max(mostRunning, ++running);
      await gate.promise;
      running--;
    };
    let slowStarted = 0;
    await broker.subscribe(
      'slow.*',
      async () => {
        slowStarted++;
        await hold();
      },
      { group: 'slow' },
    );
    const attempts = new Map<string, number[]>();
    await broker.subscribe(
      'fast.*',
      async (event, info) => {
        attempts.set(event.id, [...(attempts.get(event.id) ?? []), info.attempt]);
        await hold();
      },
      { group: 'fast' },
    );
    await broker.start();
    await pause(300);

    const fast = Array.from({ length: 4 }, (_, n) => createEvent({ type: 'fast.x', payload: { n } }));
    await broker.publish(fast[0]);
    await waitFor(() => attempts.size === 1, 'the first fast event handed out');
    // The slow subscription fills the pool while the fast group's pull still waits for three more.
    for (let n = 0; n < 3; n++) await broker.publish(createEvent({ type: 'slow.x', payload: { n } }));
    await waitFor(() => slowStarted === 3, 'the slow handlers running');
    for (const event of fast.slice(1)) await broker.publish(event);
    // The pool stays full for several ack waits.
    await pause(2500);
    gate.resolve();
    await waitFor(() => attempts.size === 4, 'the fast events handled');
    await pause(1500);

    expect(Object.fromEntries(fast.map((event, n) => [n, attempts.get(event.id)]))).toEqual({ 0: [1], 1: [1], 2: [1], 3: [1] });
    expect(mostRunning).toBeLessThanOrEqual(4);
  });

  for (const { partitions, concurrency } of [
    { partitions: 2, concurrency: 2 },
    { partitions: 4, concurrency: 4 },
  ]) {
    it(`a burst on one partition is not held up by the pulls the idle ones keep waiting (${partitions} partitions, concurrency ${concurrency})`, async () => {
      const names = uniqueStream('hot');
      cleanups.push(() => deleteStreams(names.stream));
      const broker = new EventBroker({
        transport: new NatsTransport({ servers: NATS_URL, ...names, partitions }),
        logger: new RecordingLogger(),
      });
      cleanups.push(() => broker.stop());
      let handled = 0;
      await broker.subscribe(
        'orders.*',
        async () => {
          await pause(20);
          handled++;
        },
        { group: 'billing', concurrency },
      );
      await broker.start();
      await pause(300);

      const count = 60;
      const started = Date.now();
      // One key: every event in one partition; the others stay idle.
      await Promise.all(
        Array.from({ length: count }, (_, n) => broker.publish(createEvent({ type: 'orders.placed', key: 'customer-1', payload: { n } }))),
      );
      // 20 ms each, two or more at a time: well under three seconds, whatever the pulls of the idle partitions wait for.
      await waitFor(() => handled === count, `the ${count} events handled`, 3000).catch(() => undefined);
      expect({ handled, ms: Date.now() - started }).toEqual({ handled: count, ms: expect.any(Number) });
      expect(Date.now() - started).toBeLessThan(3000);
    }, 20_000);
  }
});
