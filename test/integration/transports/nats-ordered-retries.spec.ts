import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type NatsTransportOptions } from '../../../lib/index.js';
import { NatsTransport } from '../../../lib/nats.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../../support/nats.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { deferred, waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
  loggers.clear();
});

const loggers = new Map<string, RecordingLogger>();
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Step {
  n: number;
}

function publish(broker: EventBroker, key: string, n: number): Promise<unknown> {
  return broker.publish(createEvent({ type: 'orders.step', key, payload: { n } }));
}

function setup(options: NatsTransportOptions = {}, names = uniqueStream('ordretry')) {
  cleanups.push(() => deleteStreams(names.stream));
  return (instanceId: string, shutdownTimeoutMs?: number): EventBroker => {
    const logger = new RecordingLogger();
    loggers.set(instanceId, logger);
    const broker = new EventBroker({
      shutdownTimeoutMs,
      transport: new NatsTransport({ servers: NATS_URL, ...names, fetchExpiresMs: 1000, ...options }),
      instanceId,
      logger,
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
}

const GAVE_UP = 'Could not give back the partitions of ordered group g in time; they are taken over when their leases end';

describe('NatsTransport ordered groups: retries and stops', () => {
  it('retries a key’s first event while its later events fill the subscription’s room, and the other keys go on', async () => {
    const makeBroker = setup({ ackWaitMs: 5000 });
    const log: string[] = [];
    const broker = makeBroker('a');
    await broker.subscribe<Step>(
      'orders.*',
      ({ payload: { n } }, { attempt }) => {
        log.push(`${n}#${attempt}`);
        if (n === 1 && attempt === 1) throw new Error('fails once');
      },
      { group: 'g', ordered: true, concurrency: 2, retry: { maxRetries: 3, initialDelayMs: 200, jitter: 0 } },
    );
    await broker.start();
    for (const n of [1, 2, 3, 4]) await publish(broker, 'k', n);
    await publish(broker, 'other', 9);
    await waitFor(() => log.length >= 6, 'every event handled', 5000).catch(() => undefined);
    expect(log.filter((entry) => entry !== '9#1')).toEqual(['1#1', '1#2', '2#1', '3#1', '4#1']);
    expect(log).toContain('9#1');
  });

  it('retries a key’s first event with one later event parked behind it and a worker pool of one, counting the attempts', async () => {
    const makeBroker = setup({ ackWaitMs: 5000 });
    const log: string[] = [];
    const broker = makeBroker('a');
    await broker.subscribe<Step>(
      'orders.*',
      ({ payload: { n } }, { attempt }) => {
        log.push(`${n}#${attempt}`);
        if (n === 1 && attempt < 3) throw new Error('fails twice');
      },
      { group: 'g', ordered: true, concurrency: 1, retry: { maxRetries: 3, initialDelayMs: 100, jitter: 0 } },
    );
    await broker.start();
    for (const n of [1, 2]) await publish(broker, 'k', n);
    await waitFor(() => log.length >= 4, 'every event handled', 5000).catch(() => undefined);
    await pause(200);
    expect(log).toEqual(['1#1', '1#2', '1#3', '2#1']);
  });

  it('an instance that stops while a handler outlives its shutdown timeout still hands its partition over at once', async () => {
    const makeBroker = setup({ ackWaitMs: 4000 });
    const log: string[] = [];
    const hold = deferred();
    cleanups.push(async () => hold.resolve());
    const subscribe = async (broker: EventBroker, instance: string) => {
      await broker.subscribe<Step>(
        'orders.*',
        async ({ payload: { n } }) => {
          log.push(`${instance} ${n}`);
          if (instance === 'a') await hold.promise;
        },
        { group: 'g', ordered: true },
      );
      await broker.start();
    };
    const a = makeBroker('a', 100);
    await subscribe(a, 'a');
    for (const n of [1, 2, 3]) await publish(a, 'k', n);
    await waitFor(() => log.includes('a 1'), 'a at work');
    const b = makeBroker('b');
    await subscribe(b, 'b');
    await pause(300);

    const stoppedAt = Date.now();
    const stopping = a.stop();
    // The handler a abandoned at its shutdown timeout ends while a gives the partition back.
    setTimeout(() => hold.resolve(), 300);
    await waitFor(() => log.includes('b 3'), 'the key taken over', 15_000);
    const tookOverMs = Date.now() - stoppedAt;
    await stopping;
    expect(loggers.get('a')?.lines.map((line) => line.message)).not.toContain(GAVE_UP);
    expect(tookOverMs).toBeLessThan(2000);
  });

  it('an instance that stops with a backlog parked behind a running event hands it over at its shutdown timeout, each event handled once', async () => {
    const makeBroker = setup({ ackWaitMs: 4000 });
    const log: string[] = [];
    const subscribe = async (broker: EventBroker, instance: string) => {
      await broker.subscribe<Step>(
        'orders.*',
        async ({ payload: { n } }) => {
          log.push(`${instance} ${n}`);
          if (instance === 'a') await pause(200);
        },
        { group: 'g', ordered: true, concurrency: 30 },
      );
      await broker.start();
    };
    const a = makeBroker('a', 1000);
    await subscribe(a, 'a');
    for (let n = 1; n <= 40; n++) await publish(a, 'k', n);
    await waitFor(() => log.includes('a 2'), 'a at work');
    const b = makeBroker('b');
    await subscribe(b, 'b');
    await pause(200);

    const stoppedAt = Date.now();
    await a.stop();
    const stopMs = Date.now() - stoppedAt;
    await waitFor(() => log.includes('b 40') || log.includes('a 40'), 'the backlog handled', 15_000);
    const doneMs = Date.now() - stoppedAt;
    await pause(300);
    const handled = log.map((entry) => Number(entry.split(' ')[1]));
    expect(handled).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
    expect(loggers.get('a')?.lines.map((line) => line.message)).not.toContain(GAVE_UP);
    expect(stopMs).toBeLessThan(1500);
    expect(doneMs).toBeLessThan(3000);
  });
});
