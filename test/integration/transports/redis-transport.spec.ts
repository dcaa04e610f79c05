import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, createEvent, type RedisTransportOptions } from '../../../lib/index.js';
import { RedisTransport } from '../../../lib/redis.js';
import { freePort } from '../../support/free-port.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../../support/redis.js';
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
