import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type RedisTransportOptions } from '../../../lib/index.js';
import { RedisTransport } from '../../../lib/redis.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../../support/redis.js';
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

function setup(options: RedisTransportOptions) {
  const keyPrefix = uniquePrefix('ordered');
  const raw = new Redis(REDIS_URL);
  cleanups.push(async () => {
    raw.disconnect();
    await deleteKeys(keyPrefix);
  });
  const makeBroker = (instanceId: string, logger = new RecordingLogger()): EventBroker => {
    const broker = new EventBroker({
      transport: new RedisTransport({ url: REDIS_URL, keyPrefix, blockMs: 100, ...options }),
      instanceId,
      logger,
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
  /** Who holds each partition's lease of the group: the instance id its token starts with. */
  const owners = async (group: string): Promise<(string | null)[]> => {
    const partitions = options.partitions ?? 1;
    const leases = Array.from({ length: partitions }, (_, partition) =>
      partitions === 1 ? `${keyPrefix}:lease:${group}` : `${keyPrefix}:{${keyPrefix}:${partition}}:lease:${group}`,
    );
    return (await raw.mget(...leases)).map((token) => token?.split('#')[0] ?? null);
  };
  return { keyPrefix, raw, makeBroker, owners };
}

/**
 * An instance of an ordered group whose next ack of the group fails on the client: after Redis
 * ran it (`landed`, the reply lost with its connection), or before it was sent.
 */
async function instanceWithFailingAck(landed: boolean) {
  const { keyPrefix } = setup({});
  const client = new Redis(REDIS_URL);
  cleanups.push(async () => client.disconnect());
  let failNext = true;
  const evalsha = client.evalsha.bind(client) as (...args: (string | number)[]) => Promise<unknown>;
  // The ack script's second key is the group's acked progress stream.
  (client as unknown as { evalsha: typeof evalsha }).evalsha = async (...args) => {
    const isAck = String(args[3]).endsWith(':acked:g');
    if (!isAck || !failNext) return evalsha(...args);
    failNext = false;
    if (landed) await evalsha(...args);
    throw new Error('Connection is closed.');
  };
  const logger = new RecordingLogger();
  const broker = new EventBroker({
    transport: new RedisTransport({ client, keyPrefix, blockMs: 100, ackTimeoutMs: 1000 }),
    instanceId: 'a',
    logger,
  });
  cleanups.push(() => broker.stop());
  const log: string[] = [];
  await broker.subscribe<Step>('orders.*', ({ payload: { n } }, { attempt }) => void log.push(`${n}#${attempt}`), {
    group: 'g',
    ordered: true,
  });
  await broker.start();
  for (const n of [1, 2, 3]) await publish(broker, 'k', n);
  return { log, logger };
}

describe('RedisTransport ordered groups', () => {
  it('refuses an ordered consumer of a group whose unordered consumers hold entries they work on, naming the group and how many', async () => {
    const { makeBroker } = setup({ partitions: 2, ackTimeoutMs: 5000 });
    const working = deferred();
    const unordered = makeBroker('a');
    let started = false;
    await unordered.subscribe(
      'orders.*',
      async () => {
        started = true;
        await working.promise;
      },
      { group: 'g' },
    );
    await unordered.start();
    cleanups.push(async () => working.resolve());
    await publish(unordered, 'k', 1);
    await waitFor(() => started, 'the unordered consumer at work');

    const ordered = makeBroker('b');
    await ordered.subscribe('orders.*', () => undefined, { group: 'g', ordered: true });
    await expect(ordered.start()).rejects.toThrow(
      'Group g is consumed unordered by other instances (they hold 1 of its entries); a consumer of the same group cannot consume it ordered (give every consumer of a group the same ordered option)',
    );
  });

  it('takes over the partition of an owner whose transport closed without giving it back once its lease ran out: the event it was running first, as a second attempt, then the rest of its key', async () => {
    const { makeBroker } = setup({ partitions: 2, ackTimeoutMs: 1000 });
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
    expect(log).toEqual(['a 1#1', 'b 1#2', 'b 2#1', 'b 3#1']);
    // Not before the lease (1 s from its last renewal) ran out.
    expect(Date.now() - closedAt).toBeGreaterThan(500);
  });

  it('shares the partitions between two instances, each key on one of them in publish order, and gives them all to the one left when the other stops', async () => {
    const { makeBroker, owners } = setup({ partitions: 4, ackTimeoutMs: 5000 });
    const handled = new Map<string, { instance: string; n: number }[]>();
    const brokers = ['a', 'b'].map((instance) => ({ instance, broker: makeBroker(instance) }));
    for (const { instance, broker } of brokers) {
      await broker.subscribe<Step>(
        'orders.*',
        async (event) => {
          const key = event.key ?? '';
          handled.set(key, [...(handled.get(key) ?? []), { instance, n: event.payload.n }]);
          await pause(Math.random() * 3);
        },
        { group: 'g', ordered: true },
      );
      await broker.start();
    }
    await waitFor(async () => (await owners('g')).toSorted().join() === 'a,a,b,b', 'two partitions each', 5000);

    const keys = Array.from({ length: 20 }, (_, index) => `key-${index}`);
    for (let n = 0; n < 5; n++) await Promise.all(keys.map((key) => publish(brokers[n % 2].broker, key, n)));
    await waitFor(() => [...handled.values()].flat().length === 100, 'every event handled', 10_000);
    for (const key of keys) {
      const ofKey = handled.get(key) ?? [];
      expect(ofKey.map(({ n }) => n)).toEqual([0, 1, 2, 3, 4]);
      expect(new Set(ofKey.map(({ instance }) => instance)).size).toBe(1);
    }
    expect(new Set([...handled.values()].flat().map(({ instance }) => instance))).toEqual(new Set(['a', 'b']));

    const stoppedAt = Date.now();
    await brokers[1].broker.stop();
    // Given back, not left to run out (5 s).
    await waitFor(async () => (await owners('g')).join() === 'a,a,a,a', 'every partition owned by the one left', 2500);
    expect(Date.now() - stoppedAt).toBeLessThan(2500);
    handled.clear();
    await Promise.all(keys.map((key) => publish(brokers[0].broker, key, 5)));
    await waitFor(() => handled.size === keys.length, 'every key handled by the one left', 5000);
    expect(new Set([...handled.values()].flat().map(({ instance }) => instance))).toEqual(new Set(['a']));
  });

  it('stops handing out a partition whose lease another consumer took, while its running handler finishes; goes on once it owns it again', async () => {
    const { keyPrefix, raw, makeBroker } = setup({ partitions: 1, ackTimeoutMs: 3000 });
    const logger = new RecordingLogger();
    const log: string[] = [];
    const running = deferred();
    const broker = makeBroker('a', logger);
    await broker.subscribe<Step>(
      'orders.*',
      async ({ payload: { n } }) => {
        log.push(`${n} started`);
        if (n === 1) await running.promise;
        log.push(`${n} ended`);
      },
      { group: 'g', ordered: true },
    );
    await broker.start();
    await publish(broker, 'k', 1);
    await publish(broker, 'k', 2);
    await waitFor(() => log.includes('1 started'), 'the first event running');

    const lease = `${keyPrefix}:lease:g`;
    await raw.set(lease, 'intruder#1', 'PX', 60_000);
    await waitFor(
      () => logger.lines.some(({ message }) => message.includes('lost partition 0: another consumer holds its lease')),
      'the lease found lost',
    );
    running.resolve();
    await waitFor(() => log.includes('1 ended'), 'the running handler finished');
    await pause(500);
    expect(log).toEqual(['1 started', '1 ended']);

    await raw.del(lease);
    await waitFor(() => log.includes('2 ended'), 'the next event once the partition is owned again');
    expect(log).toEqual(['1 started', '1 ended', '2 started', '2 ended']);
  });

  describe('an ack that fails on the client', () => {
    it('goes on with the key when the ack was written all the same: the next events run, the first one once', async () => {
      const { log, logger } = await instanceWithFailingAck(true);
      await waitFor(() => log.includes('3#1'), "the key's next events", 5000);
      await pause(1500);
      expect(log).toEqual(['1#1', '2#1', '3#1']);
      expect(logger.lines.map(({ message }) => message).join('\n')).toContain('Connection is closed.');
    });

    it('keeps the key for the entry when the ack was not written: it runs again, once its lease ran out, before the next ones', async () => {
      const { log } = await instanceWithFailingAck(false);
      await waitFor(() => log.includes('3#1'), "the key's next events", 5000);
      expect(log).toEqual(['1#1', '1#2', '2#1', '3#1']);
    });
  });
});
