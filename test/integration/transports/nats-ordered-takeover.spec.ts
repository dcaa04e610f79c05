import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type NatsTransportOptions } from '../../../lib/index.js';
import { NatsTransport } from '../../../lib/nats.js';
import { startLatencyProxy } from '../../support/latency-proxy.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../../support/nats.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { deferred, waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];
const loggers = new Map<string, RecordingLogger>();

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
  loggers.clear();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Step {
  n: number;
}

function publish(broker: EventBroker, key: string, n: number): Promise<unknown> {
  return broker.publish(createEvent({ type: 'orders.step', key, payload: { n } }));
}

function setup(options: NatsTransportOptions = {}, names = uniqueStream('ordtake')) {
  cleanups.push(() => deleteStreams(names.stream));
  return (instanceId: string, servers: string = NATS_URL, shutdownTimeoutMs?: number): EventBroker => {
    const logger = new RecordingLogger();
    loggers.set(instanceId, logger);
    const broker = new EventBroker({
      shutdownTimeoutMs,
      transport: new NatsTransport({ servers, ...names, fetchExpiresMs: 1000, ...options }),
      instanceId,
      logger,
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
}

describe('NatsTransport ordered groups: taking partitions over', () => {
  it('a new ordered group on a stream that already holds events starts at new events, as an unordered one does', async () => {
    const makeBroker = setup({ ackWaitMs: 5000 });
    const publisher = makeBroker('p');
    await publisher.start();
    for (const n of [1, 2, 3]) await publish(publisher, 'k', n);

    const log: number[] = [];
    const broker = makeBroker('a');
    await broker.subscribe<Step>('orders.*', ({ payload: { n } }) => void log.push(n), { group: 'g', ordered: true });
    await broker.start();
    await publish(publisher, 'k', 4);
    await waitFor(() => log.includes(4), 'the new event handled');
    await pause(300);
    expect(log).toEqual([4]);
  });

  it('an ordered consumer is refused while an unordered instance of the group is busy with all it may run (it has no pull waiting then)', async () => {
    const makeBroker = setup({ ackWaitMs: 5000 });
    const log: string[] = [];
    const stuck = deferred();
    const unordered = makeBroker('u');
    await unordered.subscribe<Step>(
      'orders.*',
      async ({ payload: { n } }) => {
        log.push(`u ${n} start`);
        await stuck.promise;
        log.push(`u ${n} end`);
      },
      { group: 'g', concurrency: 1 },
    );
    await unordered.start();
    cleanups.push(async () => stuck.resolve());
    await publish(unordered, 'k', 1);
    await publish(unordered, 'k', 2);
    await waitFor(() => log.includes('u 1 start'), 'the unordered instance at work');
    await pause(300);

    const ordered = makeBroker('o');
    await ordered.subscribe<Step>('orders.*', ({ payload: { n } }) => void log.push(`o ${n}`), { group: 'g', ordered: true });
    const started = await ordered.start().then(
      () => 'started',
      (error: unknown) => `refused: ${String(error)}`,
    );
    await pause(1000);
    expect({ started, log }).toMatchObject({ started: expect.stringMatching(/^refused: .*consumed unordered/), log: ['u 1 start'] });
  });

  it('an ordered consumer starts once the unordered instance of the group that left a delivery out stopped a while ago', async () => {
    const makeBroker = setup({ ackWaitMs: 1500 });
    const log: string[] = [];
    const stuck = deferred();
    cleanups.push(async () => stuck.resolve());
    const unordered = makeBroker('u', NATS_URL, 100);
    await unordered.subscribe<Step>(
      'orders.*',
      async ({ payload: { n } }) => {
        log.push(`u ${n}`);
        await stuck.promise;
      },
      { group: 'g', concurrency: 1 },
    );
    await unordered.start();
    for (const n of [1, 2, 3]) await publish(unordered, 'k', n);
    await waitFor(() => log.includes('u 1'), 'the unordered instance at work');
    // Its handler outlives the shutdown timeout: event 1 stays out on the group's consumer.
    await unordered.stop();
    await pause(1700);

    const ordered = makeBroker('o');
    await ordered.subscribe<Step>('orders.*', ({ payload: { n } }) => void log.push(`o ${n}`), { group: 'g', ordered: true });
    const started = await ordered.start().then(
      () => 'started',
      (error: unknown) => `refused: ${String(error)}`,
    );
    expect(started).toBe('started');
    await waitFor(() => log.includes('o 3'), 'the events handled by the ordered instance', 5000);
    expect(log).toEqual(['u 1', 'o 1', 'o 2', 'o 3']);
  });

  it('a consumer of the group that starts while a takeover deletes and adds again the partition’s consumer does not make the takeover fail', async () => {
    const names = uniqueStream('ordtake');
    const makeBroker = setup({ ackWaitMs: 2000 }, names);
    // The instance that takes over is far from the server: its delete and add of the consumer are 200 ms apart there.
    const proxy = await startLatencyProxy({ host: '127.0.0.1', port: 4222 }, 100);
    cleanups.push(() => proxy.close());
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    const jsm = await connection.jetstreamManager();
    const log: string[] = [];
    const stuck = deferred();
    const subscribe = async (broker: EventBroker, instance: string) => {
      await broker.subscribe<Step>(
        'orders.*',
        async ({ payload: { n } }) => {
          log.push(`${instance} ${n}`);
          if (instance === 'a') await stuck.promise;
        },
        { group: 'g', ordered: true },
      );
    };
    const a = makeBroker('a');
    await subscribe(a, 'a');
    await a.start();
    for (const n of [1, 2, 3]) await publish(a, 'k', n);
    await waitFor(() => log.includes('a 1'), 'a at work');
    const b = makeBroker('b', `nats://127.0.0.1:${proxy.port}`);
    await subscribe(b, 'b');
    await b.start();
    cleanups.push(async () => stuck.resolve());
    // Started, not yet consuming the group.
    const c = makeBroker('c');
    await c.subscribe('misc.*', () => undefined, { group: 'misc' });
    await c.start();

    // a crashes: b takes the partition over once its lease ran out.
    await a.transport.close();
    await waitFor(
      () =>
        jsm.consumers.info(names.stream, 'g').then(
          () => false,
          () => true,
        ),
      'the takeover under way',
      5000,
    );
    await subscribe(c, 'c');
    await waitFor(() => log.some((entry) => entry.endsWith(' 3')), 'the key taken over', 10_000);
    expect(loggers.get('b')?.lines.map((line) => line.message)).not.toContain(
      'Could not take partition 0 of ordered group g over: deliver policy can not be updated',
    );
    expect(log.slice(1).map((entry) => entry.split(' ')[1])).toEqual(['1', '2', '3']);
  });
});
