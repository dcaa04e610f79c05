import { connect, type ConsumerConfig, type KV, type NatsConnection } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type NatsTransportOptions } from '../../../lib/index.js';
import { NatsTransport } from '../../../lib/nats.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../../support/nats.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { deferred, waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Step {
  n: number;
}

function publish(broker: EventBroker, key: string, n: number): Promise<unknown> {
  return broker.publish(createEvent({ type: 'orders.step', key, payload: { n } }));
}

async function setup(options: NatsTransportOptions) {
  const names = uniqueStream('ordered');
  const connection: NatsConnection = await connect({ servers: NATS_URL });
  cleanups.push(async () => {
    await connection.close();
    await deleteStreams(names.stream);
  });
  const makeBroker = (instanceId: string, logger = new RecordingLogger(), own?: NatsConnection): EventBroker => {
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: NATS_URL, ...names, fetchExpiresMs: 1000, ...options, connection: own }),
      instanceId,
      logger,
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
  /** Who holds each partition's lease of the group: the instance id written in it, or null when nobody does. */
  const owners = async (group: string): Promise<(string | null)[]> => {
    const kv: KV = await connection.jetstream().views.kv(`${names.stream}_LEASES`);
    const partitions = options.partitions ?? 1;
    return Promise.all(
      Array.from({ length: partitions }, async (_, partition) => {
        const entry = await kv.get(`${group}.lease.${partition}`);
        const value = entry?.operation === 'PUT' ? entry.json<{ owner?: string; name: string }>() : undefined;
        return value?.owner === undefined ? null : value.name;
      }),
    );
  };
  return { makeBroker, owners };
}

describe('NatsTransport ordered groups', () => {
  it('takes over the partition of an owner whose transport closed without giving it back once its lease ran out: the event it was running first, then the rest of its key', async () => {
    const { makeBroker } = await setup({ partitions: 2, ackWaitMs: 1000 });
    const log: string[] = [];
    const stuck = deferred();
    const first = makeBroker('a');
    await first.subscribe<Step>(
      'orders.*',
      async ({ payload: { n } }, { attempt }) => {
        log.push(`a ${n}#${attempt}`);
        await stuck.promise;
      },
      { group: 'g', ordered: true },
    );
    await first.start();
    for (const n of [1, 2, 3]) await publish(first, 'k', n);
    await waitFor(() => log.includes('a 1#1'), 'the first instance at work');

    const second = makeBroker('b');
    await second.subscribe<Step>('orders.*', ({ payload: { n } }, { attempt }) => void log.push(`b ${n}#${attempt}`), {
      group: 'g',
      ordered: true,
    });
    await second.start();
    // Before the brokers stop (cleanups run last first): the stuck handler would hold the first one's shutdown.
    cleanups.push(async () => stuck.resolve());
    await pause(500);
    expect(log).toEqual(['a 1#1']);

    const closedAt = Date.now();
    await first.transport.close();
    await waitFor(() => log.includes('b 3#1'), 'the key taken over', 5000);
    // After a lost lease the attempts are counted from 1 again: the recreated consumer delivers them anew.
    expect(log).toEqual(['a 1#1', 'b 1#1', 'b 2#1', 'b 3#1']);
    // Not before the lease (1 s from its last renewal) ran out.
    expect(Date.now() - closedAt).toBeGreaterThan(500);
  });

  it('adds the partition’s consumer again when a new owner deleted it and could not add it back: the next takeover finishes the recreation, nothing of the key lost', async () => {
    const { makeBroker } = await setup({ partitions: 1, ackWaitMs: 1000 });
    const log: string[] = [];
    const stuck = deferred();
    const first = makeBroker('a');
    await first.subscribe<Step>(
      'orders.*',
      async ({ payload: { n } }, { attempt }) => {
        log.push(`a ${n}#${attempt}`);
        await stuck.promise;
      },
      { group: 'g', ordered: true },
    );
    await first.start();
    for (const n of [1, 2, 3]) await publish(first, 'k', n);
    await waitFor(() => log.includes('a 1#1'), 'the first instance at work');

    // The second instance's first add of a consumer after it started fails, as when it crashes or
    // times out (a cluster electing) between the delete and the add of its takeover.
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    const jsm = await connection.jetstreamManager();
    const add = jsm.consumers.add.bind(jsm.consumers);
    let failNextAdd = false;
    let addsFailed = 0;
    jsm.consumers.add = async (stream: string, config: Partial<ConsumerConfig>) => {
      if (!failNextAdd) return add(stream, config);
      failNextAdd = false;
      addsFailed++;
      throw new Error('stopped before the consumer was added again');
    };
    connection.jetstreamManager = async () => jsm;
    const second = makeBroker('b', new RecordingLogger(), connection);
    await second.subscribe<Step>('orders.*', ({ payload: { n } }, { attempt }) => void log.push(`b ${n}#${attempt}`), {
      group: 'g',
      ordered: true,
    });
    await second.start();
    failNextAdd = true;
    cleanups.push(async () => stuck.resolve());

    await first.transport.close();
    await waitFor(() => log.includes('b 3#1'), 'the key taken over', 5000);
    expect(addsFailed).toBe(1);
    expect(log).toEqual(['a 1#1', 'b 1#1', 'b 2#1', 'b 3#1']);
  });

  it('shares the partitions between two instances, each key on one of them in publish order, and gives them all to the one left when the other stops', async () => {
    const { makeBroker, owners } = await setup({ partitions: 4, ackWaitMs: 5000 });
    const handled = new Map<string, { instance: string; n: number; attempt: number }[]>();
    const instances = ['a', 'b'].map((instance) => ({ instance, broker: makeBroker(instance) }));
    for (const { instance, broker } of instances) {
      await broker.subscribe<Step>(
        'orders.*',
        async (event, { attempt }) => {
          const key = event.key ?? '';
          handled.set(key, [...(handled.get(key) ?? []), { instance, n: event.payload.n, attempt }]);
          await pause(Math.random() * 3);
        },
        { group: 'g', ordered: true },
      );
      await broker.start();
    }
    await waitFor(async () => (await owners('g')).toSorted().join() === 'a,a,b,b', 'two partitions each', 10_000);

    const keys = Array.from({ length: 20 }, (_, index) => `key-${index}`);
    for (let n = 0; n < 5; n++) await Promise.all(keys.map((key) => publish(instances[n % 2].broker, key, n)));
    await waitFor(() => [...handled.values()].flat().length === 100, 'every event handled', 10_000);
    for (const key of keys) {
      const ofKey = handled.get(key) ?? [];
      expect(ofKey.map(({ n }) => n)).toEqual([0, 1, 2, 3, 4]);
      expect(new Set(ofKey.map(({ instance }) => instance)).size).toBe(1);
    }
    expect(new Set([...handled.values()].flat().map(({ instance }) => instance))).toEqual(new Set(['a', 'b']));

    const stoppedAt = Date.now();
    await instances[1].broker.stop();
    // Given back, not left to run out (5 s).
    await waitFor(async () => (await owners('g')).join() === 'a,a,a,a', 'every partition owned by the one left', 2500);
    expect(Date.now() - stoppedAt).toBeLessThan(2500);
    handled.clear();
    await Promise.all(keys.map((key) => publish(instances[0].broker, key, 5)));
    await waitFor(() => handled.size === keys.length, 'every key handled by the one left', 5000);
    // The events b had handled are not handled again: its hand-over said so.
    expect([...handled.values()].flat().map(({ n, instance }) => `${instance} ${n}`)).toEqual(keys.map(() => 'a 5'));
  });

  it('hands a stopping instance’s partition over with what it had not settled: its retry waiting, counted as attempted once, then the key’s next event', async () => {
    const { makeBroker } = await setup({ partitions: 1, ackWaitMs: 5000 });
    const log: string[] = [];
    const subscribe = async (instance: string) => {
      const broker = makeBroker(instance, new RecordingLogger());
      await broker.subscribe<Step>(
        'orders.*',
        ({ payload: { n } }, { attempt }) => {
          log.push(`${instance} ${n}#${attempt}`);
          if (instance === 'b' && n === 1) throw new Error('not on b');
        },
        { group: 'g', ordered: true, retry: { maxRetries: 3, initialDelayMs: 3000, jitter: 0 } },
      );
      await broker.start();
      return broker;
    };
    const b = await subscribe('b');
    await publish(b, 'k', 1);
    await publish(b, 'k', 2);
    await waitFor(() => log.includes('b 1#1'), 'the first event failed once on b');
    await subscribe('a');
    await pause(200);
    const stoppedAt = Date.now();
    await b.stop();
    await waitFor(() => log.includes('a 2#1'), 'the key handed over', 5000);
    expect(log).toEqual(['b 1#1', 'a 1#2', 'a 2#1']);
    // At once, not when the retry was due (3 s).
    expect(Date.now() - stoppedAt).toBeLessThan(2000);
  });
});
