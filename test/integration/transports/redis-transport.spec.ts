import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, createEvent, type RedisTransportOptions } from '../../../lib/index.js';
import { RedisTransport } from '../../../lib/redis.js';
import { freePort } from '../../support/free-port.js';
import { deleteKeys, partitionStream, REDIS_URL, uniquePrefix } from '../../support/redis.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { deferred, waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function setup(options: RedisTransportOptions = {}) {
  const keyPrefix = uniquePrefix('redis');
  const raw = new Redis(REDIS_URL);
  cleanups.push(async () => {
    raw.disconnect();
    await deleteKeys(keyPrefix);
  });
  const makeBroker = (instanceId: string, mode: 'async' | 'sync' = 'async', logger = new RecordingLogger()): EventBroker => {
    const broker = new EventBroker({
      transport: new RedisTransport({ url: REDIS_URL, keyPrefix, blockMs: 100, ackTimeoutMs: 1000, ...options }),
      instanceId,
      mode,
      logger,
      retry: { initialDelayMs: 10, maxDelayMs: 50, jitter: 0 },
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
  return { keyPrefix, raw, makeBroker };
}

describe('RedisTransport', () => {
  it('fails to start with an error naming host and port, never the password', async () => {
    const port = await freePort();
    const broker = new EventBroker({
      transport: new RedisTransport({ host: '127.0.0.1', port, password: 's3cret-pass' }),
      logger: new RecordingLogger(),
    });
    const failure = await broker.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EventBrokerError);
    expect((failure as Error).message).toContain(`Cannot reach Redis at 127.0.0.1:${port}`);
    expect((failure as Error).message).not.toContain('s3cret-pass');
    expect((failure as Error).cause).toBeInstanceOf(Error);
  });

  it('writes CloudEvents 1.0 JSON to <prefix>:stream, readable by any client', async () => {
    const { keyPrefix, raw, makeBroker } = setup();
    const broker = makeBroker('api-1');
    await broker.start();
    const published = await broker.publish(
      createEvent({
        type: 'public.users.create',
        source: 'database',
        payload: { id: 7 },
        userId: 42,
        metadata: { traceparent: 'tp', 'x-Custom': 1 },
      }),
    );
    const [[, fields]] = await raw.xrange(`${keyPrefix}:stream`, '-', '+');
    const document = JSON.parse(fields[fields.indexOf('event') + 1]) as Record<string, unknown>;
    expect(document).toMatchObject({
      specversion: '1.0',
      id: published.id,
      source: 'database',
      type: 'public.users.create',
      datacontenttype: 'application/json',
      data: { id: 7 },
      userid: 42,
      instanceid: 'api-1',
      traceparent: 'tp',
      ebmetadata: JSON.stringify({ 'x-Custom': 1 }),
    });
    expect(new Date(document.time as string).getTime()).toBe(published.createdAt.getTime());
    expect(fields[fields.indexOf('traceparent') + 1]).toBe('tp');
  });

  it('logs and dead-letters an unreadable message with its control characters escaped and its quotes bounded', async () => {
    const { keyPrefix, raw, makeBroker } = setup();
    const logger = new RecordingLogger();
    const broker = makeBroker('consumer', 'async', logger);
    await broker.subscribe('**', () => undefined, { group: 'all' });
    await broker.start();
    await raw.xadd(`${keyPrefix}:stream`, '*', 'event', 'not json\u0000\r\nsecond line');
    await raw.xadd(`${keyPrefix}:stream`, '*', 'event', JSON.stringify({ specversion: `1.0\r\n${'x'.repeat(5000)}`, id: '1' }));

    const unreadable = () => logger.lines.filter((line) => line.message.startsWith('Unreadable message'));
    await waitFor(() => unreadable().length === 2, 'both messages reported');
    const deadLetters = await broker.transport.deadLetters({ group: 'all' });
    const texts = [...unreadable().map((line) => line.message), ...deadLetters.map((deadLetter) => deadLetter.error)];
    expect(texts).toHaveLength(4);
    for (const text of texts) {
      expect(text).not.toMatch(/\p{Cc}/u);
      expect(text.length).toBeLessThan(500);
    }
    expect(unreadable()[0].message).toContain('"not json\\u0000\\r\\n"');
    expect(unreadable()[1].message).toMatch(/specversion must be "1\.0", got "1\.0\\r\\nx+"… \(5005 chars\)/);
  });

  it('accepts 25 000 publishes issued at once (a bulk import): they go out in bounded batches', async () => {
    const { makeBroker } = setup();
    const broker = makeBroker('importer');
    await broker.start();

    const outcomes = await Promise.allSettled(
      Array.from({ length: 25_000 }, (_, n) => broker.publish(createEvent({ type: 'public.rows.import', payload: { n } }))),
    );

    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    expect((await broker.stats()).transport).toMatchObject({ streamLength: 25_000 });
  }, 60_000);

  it('never trims entries a group has not acked, and trims consumed ones past maxLen', async () => {
    const { keyPrefix, raw, makeBroker } = setup({ maxLen: 10, trimIntervalMs: 50 });
    const broker = makeBroker('api');
    const gate = deferred();
    const handled = new Set<number>();
    await broker.subscribe(
      'public.**',
      async (event) => {
        await gate.promise;
        handled.add((event.payload as { n: number }).n);
      },
      { group: 'slow', concurrency: 1 },
    );
    await broker.start();
    for (let n = 0; n < 60; n++) await broker.publish(createEvent({ type: 'public.users.create', payload: { n } }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await raw.xlen(`${keyPrefix}:stream`)).toBe(60);
    gate.resolve();
    await waitFor(() => handled.size === 60, 'all 60 handled');
    await waitFor(async () => (await raw.xlen(`${keyPrefix}:stream`)) < 60, 'the consumed entries to be trimmed');
  });

  it('refuses to start on keys of the previous layout, saying what to delete', async () => {
    const { keyPrefix, raw, makeBroker } = setup();
    await raw.zadd(`${keyPrefix}:history`, 1, 'event-1');
    await raw.hset(`${keyPrefix}:event:event-1`, 'status', 'completed');

    const failure = await makeBroker('upgraded')
      .start()
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    expect(failure).toBeInstanceOf(EventBrokerError);
    expect((failure as Error).message).toContain(`key prefix ${keyPrefix} holds a history written by a previous version`);
    expect((failure as Error).message).toContain(`delete ${keyPrefix}:history and the keys ${keyPrefix}:event:*`);
    expect((failure as Error).message).toContain('or use a new keyPrefix');
  });

  it('reads data written before partitions with one partition, and refuses another count, saying what to do', async () => {
    const { keyPrefix, raw, makeBroker } = setup();
    const unpartitioned = makeBroker('before-partitions');
    await unpartitioned.start();
    const published = await unpartitioned.publish(createEvent({ type: 'public.users.create', payload: {} }));
    await unpartitioned.stop();
    // Data of a version without partitions: a stream and no recorded count.
    await raw.del(`${keyPrefix}:partitions`);

    const connectWith = async (partitions: number): Promise<RedisTransport | Error> => {
      const transport = new RedisTransport({ url: REDIS_URL, keyPrefix, partitions });
      cleanups.push(() => transport.close());
      return transport.connect().then(
        () => transport,
        (error: unknown) => error as Error,
      );
    };

    const failure = await connectWith(4);
    expect(failure).toBeInstanceOf(EventBrokerError);
    expect((failure as Error).message).toContain(
      `key prefix ${keyPrefix} holds events written with partitions 1, and this transport has partitions 4`,
    );
    expect((failure as Error).message).toContain('set partitions to 1, or use a new keyPrefix for the new count');
    expect(await raw.get(`${keyPrefix}:partitions`)).toBe('1');
    expect(await raw.exists(`${keyPrefix}:{${keyPrefix}:0}:stream`)).toBe(0);
    const reader = await connectWith(1);
    expect(reader).toBeInstanceOf(RedisTransport);
    expect(await (reader as RedisTransport).get(published.id)).toMatchObject({ id: published.id, status: 'completed' });
  });

  it('spreads events over the streams of their partitions by key, and serves them all from one history', async () => {
    const { keyPrefix, raw, makeBroker } = setup({ partitions: 4 });
    const broker = makeBroker('api');
    const handled: string[] = [];
    await broker.subscribe('public.**', (event) => void handled.push(event.id), { group: 'all' });
    await broker.start();

    const published = [];
    // A millisecond apart: the partitions' streams merge by time, and events of one millisecond in two partitions have no order.
    const start = Date.now() - 1000;
    for (let n = 0; n < 40; n++) {
      published.push(await broker.publish(createEvent({ type: 'public.users.create', payload: { n }, createdAt: new Date(start + n) })));
    }
    await waitFor(() => handled.length === 40, 'all 40 handled');

    const idsIn = async (stream: string): Promise<string[]> =>
      (await raw.xrange(stream, '-', '+')).map(([, fields]) => fields[fields.indexOf('id') + 1]);
    const partitions = await Promise.all([0, 1, 2, 3].map((partition) => idsIn(`${keyPrefix}:{${keyPrefix}:${partition}}:stream`)));
    expect(partitions.every((ids) => ids.length > 0)).toBe(true);
    expect(partitions.flat().toSorted()).toEqual(published.map((event) => event.id).toSorted());
    for (const event of published) expect(await idsIn(partitionStream(keyPrefix, 4, event.id))).toContain(event.id);
    expect(await raw.exists(`${keyPrefix}:stream`)).toBe(0);
    expect(await raw.get(`${keyPrefix}:partitions`)).toBe('4');
    await waitFor(async () => (await broker.transport.list({ status: 'completed' })).length === 40, 'all 40 listed completed');
    expect((await broker.transport.list({ limit: 3 })).map((event) => event.id)).toEqual(published.slice(-3).map((event) => event.id));
  });

  it("keeps one key's events in one partition, handled in publish order among the others", async () => {
    const { keyPrefix, raw, makeBroker } = setup({ partitions: 4 });
    const broker = makeBroker('api');
    const handled: { key?: string; n: number }[] = [];
    await broker.subscribe('public.**', (event) => void handled.push({ key: event.key, n: (event.payload as { n: number }).n }), {
      group: 'ordered',
      concurrency: 1,
    });
    await broker.start();

    for (let n = 0; n < 40; n++) {
      await broker.publish(createEvent({ type: 'public.orders.create', payload: { n }, key: n % 2 === 0 ? 'customer-7' : undefined }));
    }
    await waitFor(() => handled.length === 40, 'all 40 handled');

    const keyed = (await raw.xrange(partitionStream(keyPrefix, 4, 'customer-7'), '-', '+')).filter(([, fields]) =>
      fields[fields.indexOf('event') + 1].includes('"partitionkey":"customer-7"'),
    );
    expect(keyed).toHaveLength(20);
    expect(handled.filter((event) => event.key === 'customer-7').map((event) => event.n)).toEqual(
      Array.from({ length: 20 }, (_, n) => 2 * n),
    );
  });

  it('appends each event at its createdAt, naming it; one created before the newest entry goes right after it, and since/until still find it', async () => {
    const { keyPrefix, raw } = setup();
    const transport = new RedisTransport({ url: REDIS_URL, keyPrefix });
    cleanups.push(() => transport.close());
    await transport.connect();
    const createdAt = Date.now() - 60_000;
    const first = createEvent({ type: 'public.users.create', payload: {}, createdAt: new Date(createdAt) });
    const late = createEvent({ type: 'public.users.create', payload: {}, createdAt: new Date(createdAt - 5000) });

    await transport.publish(first);
    await transport.publish(late);

    const entries = (await raw.xrange(`${keyPrefix}:stream`, '-', '+')).map(([id, fields]) => [id, fields[fields.indexOf('id') + 1]]);
    expect(entries).toEqual([
      [`${createdAt}-0`, first.id],
      [`${createdAt}-1`, late.id],
    ]);
    const listed = async (filter: { since?: number; until?: number }): Promise<string[]> =>
      (
        await transport.list({
          since: filter.since === undefined ? undefined : new Date(filter.since),
          until: filter.until === undefined ? undefined : new Date(filter.until),
        })
      ).map((event) => event.id);
    expect(await listed({ until: createdAt - 5000 })).toEqual([late.id]);
    expect(await listed({ since: createdAt - 5000, until: createdAt - 1 })).toEqual([late.id]);
    expect(await listed({ since: createdAt })).toEqual([first.id]);
  });

  it('no longer delivers a deleted event to a group that had not read it, nor counts it pending', async () => {
    const { makeBroker } = setup();
    const registering = makeBroker('registering');
    await registering.subscribe('public.**', () => undefined, { group: 'later' });
    await registering.start();
    await registering.stop();
    const publisher = makeBroker('publisher');
    await publisher.start();
    const kept = await publisher.publish(createEvent({ type: 'public.users.create', payload: {} }));
    const deleted = await publisher.publish(createEvent({ type: 'public.users.create', payload: {} }));

    await publisher.transport.delete(deleted.id);

    expect((await publisher.stats()).transport.groups.later).toEqual({ pending: 1, inFlight: 0, deadLetters: 0 });
    const handled: string[] = [];
    const consumer = makeBroker('consumer');
    await consumer.subscribe('public.**', (event) => void handled.push(event.id), { group: 'later' });
    await consumer.start();
    await waitFor(() => handled.length > 0, 'the kept event handled');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(handled).toEqual([kept.id]);
  });

  it('forgets the outcome of a dead-lettered pair once its entry is trimmed', async () => {
    const { keyPrefix, raw, makeBroker } = setup({ maxLen: 10, trimIntervalMs: 50 });
    const broker = makeBroker('api');
    await broker.subscribe(
      'public.**',
      (event) => {
        if ((event.payload as { n: number }).n === 0) throw new Error('the first one fails');
      },
      { group: 'picky', retry: { maxRetries: 0 } },
    );
    await broker.start();
    const first = await broker.publish(createEvent({ type: 'public.users.create', payload: { n: 0 } }));
    await waitFor(async () => (await broker.transport.get(first.id))?.status === 'failed', 'the first event failed');
    expect(await raw.hlen(`${keyPrefix}:outcomes`)).toBe(1);

    for (let n = 1; n < 300; n++) await broker.publish(createEvent({ type: 'public.users.create', payload: { n } }));

    await waitFor(async () => (await broker.transport.get(first.id)) === null, 'the first event trimmed');
    await waitFor(async () => (await raw.hlen(`${keyPrefix}:outcomes`)) === 0, 'its outcome forgotten');
    const deadLetters = await broker.transport.deadLetters({ group: 'picky' });
    expect(deadLetters.map((letter) => letter.id)).toEqual([expect.stringMatching(/^0\/\d+-\d+@picky$/)]);
  });

  it('reports stream length, per-group pending and dead letters', async () => {
    const { makeBroker } = setup();
    const broker = makeBroker('api');
    await broker.subscribe(
      'public.**',
      () => {
        throw new Error('nope');
      },
      { group: 'failing', retry: { maxRetries: 0 } },
    );
    await broker.start();
    await broker.publish(createEvent({ type: 'public.users.create', payload: {} }));
    await waitFor(async () => (await broker.stats()).transport.deadLetters === 1, 'dead letter counted');
    expect((await broker.stats()).transport).toMatchObject({
      type: 'redis',
      events: 1,
      streamLength: 1,
      groups: { failing: { pending: 0, inFlight: 0, deadLetters: 1 } },
    });
  });
});
