import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BrokerStateError,
  EventBroker,
  InvalidEventError,
  InvalidPatternError,
  MemoryTransport,
  createEvent,
  type BrokerEvent,
  type EventBrokerOptions,
  type SubscribeOptions,
} from '../../../lib/index.js';
import { ForwardingTransport } from '../../../lib/transport-kit.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { deferred, waitFor } from '../../support/wait-for.js';

const FAST_RETRY = { initialDelayMs: 1, maxDelayMs: 5, jitter: 0 };

/** A transport of another type that does not declare ordered groups, as one written before them. */
class UnorderedTransport extends ForwardingTransport {
  override get type(): string {
    return 'custom';
  }

  override get orderedGroups(): boolean {
    return false;
  }
}
const brokers: EventBroker[] = [];

function makeBroker(options: Partial<EventBrokerOptions> = {}): EventBroker {
  const broker = new EventBroker({ transport: new MemoryTransport(), retry: FAST_RETRY, logger: new RecordingLogger(), ...options });
  brokers.push(broker);
  return broker;
}

async function sendInvoice(): Promise<void> {}

function userCreated(payload: unknown = { id: 1 }) {
  return createEvent({ type: 'public.users.create', source: 'database', payload });
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(brokers.splice(0).map((broker) => broker.stop()));
});

describe('EventBroker lifecycle', () => {
  it('rejects a publish before start, naming the fix', async () => {
    const broker = makeBroker();
    await expect(broker.publish(userCreated())).rejects.toThrow(BrokerStateError);
    await expect(broker.publish(userCreated())).rejects.toThrow(/not running \(call start\(\) first\)/);
  });

  it('rejects a publish after stop', async () => {
    const broker = makeBroker();
    await broker.start();
    await broker.stop();
    await expect(broker.publish(userCreated())).rejects.toThrow(/has been stopped/);
    await expect(broker.start()).rejects.toThrow(BrokerStateError);
  });

  it('refuses unknown options, naming them and the option meant', async () => {
    expect(() => makeBroker({ workerCont: 3 } as Partial<EventBrokerOptions>)).toThrow(
      'EventBroker option workerCont is unknown; did you mean workerCount?',
    );
    expect(() => makeBroker({ retry: { maxRetry: 2 } as EventBrokerOptions['retry'] })).toThrow(
      'EventBroker retry option maxRetry is unknown; did you mean maxRetries?',
    );
    const broker = makeBroker();
    await expect(broker.subscribe('a.b', () => undefined, { gruop: 'g' } as SubscribeOptions)).rejects.toThrow(
      'EventBroker.subscribe option gruop is unknown; did you mean group?',
    );
    await expect(broker.subscribe('a.b', () => undefined, { group: 'g', retry: { jiter: 0 } } as SubscribeOptions)).rejects.toThrow(
      'group g retry option jiter is unknown; did you mean jitter?',
    );
  });

  it('refuses to be built without a transport, naming the option', () => {
    expect(() => new EventBroker({} as EventBrokerOptions)).toThrow(
      /EventBroker option transport is required: give an EventTransport \(new MemoryTransport\(\), for one\)/,
    );
    expect(() => new EventBroker({ transport: 'memory' } as unknown as EventBrokerOptions)).toThrow(
      /EventBroker option transport must be an EventTransport, got "memory"/,
    );
  });

  it('names the option that is wrong', () => {
    expect(() => makeBroker({ workerCount: 0 })).toThrow(/workerCount must be a positive integer, got 0/);
    expect(() => makeBroker({ bufferSize: 1.5 })).toThrow(/bufferSize/);
    expect(() => makeBroker({ retry: { backoffFactor: 0.5 } })).toThrow(/backoffFactor must be >= 1/);
  });
});

describe('EventBroker publish', () => {
  it('resolves with the stored event and runs the handler once (async mode)', async () => {
    const broker = makeBroker({ instanceId: 'api-1' });
    const seen: BrokerEvent[] = [];
    await broker.subscribe('public.users.*', (event) => void seen.push(event), { group: 'mailer' });
    await broker.start();
    const published = await broker.publish(userCreated({ id: 7 }));
    expect(published).toMatchObject({ type: 'public.users.create', instanceId: 'api-1', status: 'pending', schema: 'public' });
    await waitFor(() => seen.length === 1, 'handler ran');
    expect(seen[0]).toMatchObject({ id: published.id, payload: { id: 7 }, retryCount: 0 });
    await waitFor(async () => (await broker.transport.get(published.id))?.status === 'completed', 'status completed');
    expect(seen).toHaveLength(1);
  });

  it('hands handlers the payload as JSON gives it back, on every transport alike', async () => {
    const broker = makeBroker();
    const seen: unknown[] = [];
    await broker.subscribe('public.users.create', (event) => void seen.push(event.payload), { group: 'g' });
    await broker.start();
    await broker.publish(userCreated({ at: new Date('2026-01-02T03:04:05.000Z'), skipped: undefined }));
    await waitFor(() => seen.length === 1, 'handler ran');
    expect(seen[0]).toEqual({ at: '2026-01-02T03:04:05.000Z' });
  });

  it('rejects bad input at publish with a clear error, storing nothing', async () => {
    const broker = makeBroker({ maxPayloadBytes: 64 });
    await broker.start();
    await expect(broker.publish(userCreated({ id: 10n }))).rejects.toThrow(/payload\.id is a BigInt/);
    await expect(broker.publish(userCreated({ text: 'x'.repeat(100) }))).rejects.toThrow(InvalidEventError);
    await expect(broker.publish({ type: 'public..create', payload: 1 })).rejects.toThrow(/segment 2/);
    expect(await broker.transport.list()).toEqual([]);
  });

  it('in sync mode runs matching handlers before resolving and still stores the event', async () => {
    const broker = makeBroker({ mode: 'sync' });
    const order: string[] = [];
    await broker.subscribe(
      'public.users.create',
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        order.push('handler');
      },
      { group: 'slow' },
    );
    await broker.start();
    const event = await broker.publish(userCreated());
    order.push('published');
    expect(order).toEqual(['handler', 'published']);
    expect(event.status).toBe('completed');
    expect((await broker.transport.get(event.id))?.status).toBe('completed');
  });

  it('in sync mode rejects with the handler error after its retries and dead-letters the event', async () => {
    const broker = makeBroker({ mode: 'sync', retry: { ...FAST_RETRY, maxRetries: 2 } });
    const handler = vi.fn<() => never>(() => {
      throw new Error('mail server down');
    });
    await broker.subscribe('public.users.create', handler, { group: 'mailer' });
    await broker.start();
    await expect(broker.publish(userCreated())).rejects.toThrow('mail server down');
    expect(handler).toHaveBeenCalledTimes(3);
    const [dead] = await broker.transport.deadLetters();
    expect(dead).toMatchObject({ group: 'mailer', error: 'mail server down', attempts: 3 });
    expect((await broker.transport.get(dead.event.id))?.status).toBe('failed');
  });

  it("in sync mode leaves an ordered group's event to the transport: it may have to wait for the earlier events of its key", async () => {
    const broker = makeBroker({ mode: 'sync' });
    const release = deferred();
    const handled: string[] = [];
    await broker.subscribe(
      'public.users.create',
      async (event) => {
        handled.push(event.id);
        await release.promise;
      },
      { group: 'ordered', ordered: true },
    );
    await broker.start();
    const first = await broker.publish(createEvent({ type: 'public.users.create', payload: {}, key: 'user-1' }));
    const second = await broker.publish(createEvent({ type: 'public.users.create', payload: {}, key: 'user-1' }));
    await waitFor(() => handled.length === 1, 'the first event handled');
    expect(handled).toEqual([first.id]);
    release.resolve();
    await waitFor(() => handled.length === 2, 'the second event handled after the first');
    expect(handled).toEqual([first.id, second.id]);
  });

  it('publishSync and publishAsync force a mode', async () => {
    const broker = makeBroker({ mode: 'async' });
    const release = deferred();
    let ran = 0;
    await broker.subscribe(
      'public.users.create',
      async () => {
        await release.promise;
        ran++;
      },
      { group: 'g' },
    );
    await broker.start();
    const pending = broker.publishSync(userCreated());
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).toBe(0);
    release.resolve();
    await pending;
    expect(ran).toBe(1);
  });
});

describe('EventBroker retries and dead letters', () => {
  it('calls a failing handler maxRetries + 1 times, then marks the event failed with its error', async () => {
    const broker = makeBroker({ retry: { ...FAST_RETRY, maxRetries: 3 } });
    const handler = vi.fn<(event: BrokerEvent) => never>((event: BrokerEvent) => {
      throw new Error(`attempt ${event.retryCount + 1} failed`);
    });
    await broker.subscribe('public.users.create', handler, { group: 'flaky' });
    await broker.start();
    const event = await broker.publish(userCreated());
    await waitFor(async () => (await broker.transport.get(event.id))?.status === 'failed', 'event failed');
    expect(handler).toHaveBeenCalledTimes(4);
    expect(handler.mock.calls.map(([delivered]) => delivered.retryCount)).toEqual([0, 1, 2, 3]);
    const stored = await broker.transport.get(event.id);
    expect(stored).toMatchObject({ status: 'failed', error: 'attempt 4 failed', retryCount: 3 });
    const deadLetters = await broker.transport.deadLetters({ group: 'flaky' });
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ error: 'attempt 4 failed', attempts: 4 });
    expect((await broker.stats()).totalFailed).toBe(1);
  });

  it('waits with exponential backoff between attempts', async () => {
    vi.useFakeTimers();
    const broker = makeBroker({ retry: { maxRetries: 3, initialDelayMs: 1000, maxDelayMs: 30_000, backoffFactor: 2, jitter: 0 } });
    const calls: number[] = [];
    const start = Date.now();
    await broker.subscribe(
      'public.users.create',
      () => {
        calls.push(Date.now() - start);
        throw new Error('no');
      },
      { group: 'timed' },
    );
    await broker.start();
    await broker.publish(userCreated());
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([0, 1000, 3000, 7000]);
  });

  it('a failing handler never makes another handler of the same event run again', async () => {
    const broker = makeBroker({ retry: { ...FAST_RETRY, maxRetries: 2 } });
    const good = vi.fn<() => void>();
    const everything = vi.fn<() => void>();
    const bad = vi.fn<() => never>(() => {
      throw new Error('bad');
    });
    await broker.subscribe('public.users.create', good, { group: 'good' });
    await broker.subscribe('*', everything, { group: 'audit' });
    await broker.subscribe('public.users.*', bad, { group: 'bad' });
    await broker.start();
    const event = await broker.publish(userCreated());
    await waitFor(async () => (await broker.transport.get(event.id))?.status === 'failed', 'event failed');
    expect(bad).toHaveBeenCalledTimes(3);
    expect(good).toHaveBeenCalledTimes(1);
    expect(everything).toHaveBeenCalledTimes(1);
  });

  it('replays a dead letter to its group', async () => {
    const broker = makeBroker({ retry: { ...FAST_RETRY, maxRetries: 0 } });
    let healthy = false;
    const handled: string[] = [];
    await broker.subscribe(
      'public.users.create',
      (event) => {
        if (!healthy) throw new Error('down');
        handled.push(event.id);
      },
      { group: 'mailer' },
    );
    await broker.start();
    const event = await broker.publish(userCreated());
    await waitFor(async () => (await broker.transport.deadLetters()).length === 1, 'dead-lettered');
    healthy = true;
    const [dead] = await broker.transport.deadLetters();
    await broker.transport.replay(dead.id);
    await waitFor(async () => (await broker.transport.get(event.id))?.status === 'completed', 'completed after replay');
    expect(handled).toEqual([event.id]);
    expect(await broker.transport.deadLetters()).toEqual([]);
  });
});

describe('EventBroker subscriptions', () => {
  it('refuses an ordered subscription on a transport without ordered groups, naming the transport, and an ordered option that is not a boolean', async () => {
    const broker = makeBroker({ transport: new UnorderedTransport(new MemoryTransport()) });
    await expect(broker.subscribe('public.users.*', () => undefined, { group: 'g', ordered: true })).rejects.toThrow(
      'Cannot subscribe group g ordered: the custom transport does not support ordered groups yet (the memory, postgres, redis and nats transports do)',
    );
    await expect(
      makeBroker().subscribe('public.users.*', () => undefined, { group: 'g', ordered: 'yes' } as unknown as SubscribeOptions),
    ).rejects.toThrow('Option ordered of group g must be a boolean, got "yes"');
  });

  it('fans out to every matching pattern, including * and **', async () => {
    const broker = makeBroker();
    const seen: Record<string, string[]> = { exact: [], star: [], deep: [], all: [], other: [] };
    await broker.subscribe('public.users.create', (event) => void seen.exact.push(event.type), { group: 'exact' });
    await broker.subscribe('public.*.create', (event) => void seen.star.push(event.type), { group: 'star' });
    await broker.subscribe('public.**', (event) => void seen.deep.push(event.type), { group: 'deep' });
    await broker.subscribe('*', (event) => void seen.all.push(event.type), { group: 'all' });
    await broker.subscribe(['billing.*.*', 'public.orders.**'], (event) => void seen.other.push(event.type), { group: 'other' });
    await broker.start();
    await broker.publish(userCreated());
    await broker.publish(createEvent({ type: 'public.orders.create', payload: {} }));
    await waitFor(() => seen.all.length === 2 && seen.deep.length === 2 && seen.other.length === 1, 'fan-out done');
    expect(seen).toEqual({
      exact: ['public.users.create'],
      star: ['public.users.create', 'public.orders.create'],
      deep: ['public.users.create', 'public.orders.create'],
      all: ['public.users.create', 'public.orders.create'],
      other: ['public.orders.create'],
    });
  });

  it('stops delivering after unsubscribe', async () => {
    const broker = makeBroker();
    const handler = vi.fn<() => void>();
    const subscription = await broker.subscribe('public.users.create', handler, { group: 'g' });
    await broker.start();
    await broker.publish(userCreated());
    await waitFor(() => handler.mock.calls.length === 1, 'first delivery');
    await broker.unsubscribe(subscription);
    await broker.publish(userCreated());
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(handler).toHaveBeenCalledTimes(1);
    expect((await broker.stats()).activeSubscribers).toBe(0);
  });

  it('derives the group from the handler name and refuses bad or duplicate groups', async () => {
    const broker = makeBroker({ serviceName: 'billing' });
    expect(await broker.subscribe('public.users.create', sendInvoice)).toMatchObject({ group: 'billing.sendInvoice' });
    await expect(broker.subscribe('public.users.create', sendInvoice)).rejects.toThrow(/already has a subscription/);
    await expect(broker.subscribe('public.users.create', sendInvoice, { group: 'has space' })).rejects.toThrow(
      'Invalid subscription group "has space": use [A-Za-z0-9_.:-]',
    );
    await expect(broker.subscribe('public.**.create', sendInvoice, { group: 'x' })).rejects.toThrow(InvalidPatternError);
  });

  it('counts published, processed and failed events', async () => {
    const broker = makeBroker({ retry: { ...FAST_RETRY, maxRetries: 0 } });
    await broker.subscribe(
      'public.users.create',
      (event) => {
        if ((event.payload as { fail?: boolean }).fail) throw new Error('asked to fail');
      },
      { group: 'g' },
    );
    await broker.start();
    await broker.publish(userCreated({ fail: false }));
    await broker.publish(userCreated({ fail: true }));
    await broker.publish(userCreated({ fail: false }));
    await waitFor(async () => {
      const stats = await broker.stats();
      return stats.totalProcessed + stats.totalFailed === 3;
    }, 'all handled');
    expect(await broker.stats()).toMatchObject({
      running: true,
      mode: 'async',
      totalPublished: 3,
      totalProcessed: 2,
      totalFailed: 1,
      activeSubscribers: 1,
      transport: { type: 'memory', events: 3, deadLetters: 1 },
    });
  });

  it('processes every one of many concurrent publishes exactly once', async () => {
    const broker = makeBroker();
    const counts = new Map<number, number>();
    await broker.subscribe(
      'public.users.create',
      (event) => {
        const n = (event.payload as { n: number }).n;
        counts.set(n, (counts.get(n) ?? 0) + 1);
      },
      { group: 'g' },
    );
    await broker.start();
    await Promise.all(Array.from({ length: 2000 }, (_, n) => broker.publish(userCreated({ n }))));
    await waitFor(() => counts.size === 2000, 'all processed');
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
  });
});

describe('EventBroker worker pool and back-pressure', () => {
  it('runs at most workerCount handlers at once and takes at most bufferSize deliveries', async () => {
    const broker = makeBroker({ workerCount: 3, bufferSize: 5 });
    let running = 0;
    let maxRunning = 0;
    let maxInFlight = 0;
    let done = 0;
    await broker.subscribe(
      'public.users.create',
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const stats = await broker.transport.stats();
        maxInFlight = Math.max(maxInFlight, stats.groups.g.inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        done++;
      },
      { group: 'g' },
    );
    await broker.start();
    for (let n = 0; n < 40; n++) await broker.publish(userCreated({ n }));
    const stats = await broker.stats();
    expect(stats.transport.groups.g.inFlight).toBeLessThanOrEqual(5);
    expect(stats.queueSize).toBeLessThanOrEqual(2);
    await waitFor(() => done === 40, 'all processed');
    expect(maxRunning).toBe(3);
    expect(maxInFlight).toBeLessThanOrEqual(5);
  });

  it('starts a handler after the transport call that handed its delivery over has returned, never inside it', async () => {
    const transport = new MemoryTransport();
    const broker = makeBroker({ transport });
    let insideTransportPublish = false;
    const startedInside: boolean[] = [];
    await broker.subscribe('public.users.create', () => void startedInside.push(insideTransportPublish), { group: 'g' });
    await broker.start();

    for (let n = 0; n < 3; n++) {
      insideTransportPublish = true;
      const publishing = transport.publish(userCreated({ n }));
      insideTransportPublish = false;
      await publishing;
    }

    await waitFor(() => startedInside.length === 3, 'all handled');
    expect(startedInside).toEqual([false, false, false]);
  });

  it('limits one subscription to its concurrency', async () => {
    const broker = makeBroker({ workerCount: 10 });
    let running = 0;
    let maxRunning = 0;
    let done = 0;
    await broker.subscribe(
      'public.users.create',
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        done++;
      },
      { group: 'serial', concurrency: 1 },
    );
    await broker.start();
    for (let n = 0; n < 10; n++) await broker.publish(userCreated({ n }));
    await waitFor(() => done === 10, 'all processed');
    expect(maxRunning).toBe(1);
  });
});

describe('EventBroker graceful shutdown', () => {
  it('processes everything already accepted before it stops', async () => {
    const broker = makeBroker({ workerCount: 4 });
    let done = 0;
    await broker.subscribe(
      'public.users.create',
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        done++;
      },
      { group: 'g' },
    );
    await broker.start();
    for (let n = 0; n < 300; n++) await broker.publish(userCreated({ n }));
    expect(done).toBeLessThan(300);
    await broker.stop();
    expect(done).toBe(300);
  });

  it('lets publishes already under way finish before it closes the transport', async () => {
    const broker = makeBroker({ transport: new MemoryTransport({ maxQueued: 1 }), workerCount: 1, bufferSize: 1 });
    const handled: number[] = [];
    await broker.subscribe(
      'public.users.create',
      async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        handled.push((event.payload as { n: number }).n);
      },
      { group: 'slow' },
    );
    await broker.start();
    const publishes = Array.from({ length: 6 }, (_, n) => broker.publish(userCreated({ n })));
    await broker.stop();
    const outcomes = await Promise.allSettled(publishes);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(6).fill('fulfilled'));
    expect(handled.toSorted()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('gives up on a handler that never finishes after shutdownTimeoutMs', async () => {
    const logger = new RecordingLogger();
    const broker = makeBroker({ shutdownTimeoutMs: 100, logger });
    const started = deferred();
    await broker.subscribe(
      'public.users.create',
      async () => {
        started.resolve();
        await new Promise(() => undefined);
      },
      { group: 'stuck' },
    );
    await broker.start();
    await broker.publish(userCreated());
    await started.promise;
    const before = Date.now();
    await broker.stop();
    expect(Date.now() - before).toBeGreaterThanOrEqual(90);
    expect(logger.lines.some((line) => line.level === 'warn' && /Shutdown timeout/.test(line.message))).toBe(true);
  });
});

describe('EventBroker across instances (one shared MemoryTransport)', () => {
  it('splits a group between instances and fans out across groups', async () => {
    const transport = new MemoryTransport();
    const a = makeBroker({ transport, instanceId: 'a' });
    const b = makeBroker({ transport, instanceId: 'b' });
    const mailer: string[] = [];
    const audit: string[] = [];
    for (const [broker, name] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      await broker.subscribe(
        'public.users.*',
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 1));
          mailer.push(name);
        },
        { group: 'mailer' },
      );
    }
    await a.subscribe('public.users.*', () => void audit.push('a'), { group: 'audit' });
    await a.start();
    await b.start();
    for (let n = 0; n < 50; n++) await (n % 2 ? a : b).publish(userCreated({ n }));
    await waitFor(() => mailer.length === 50 && audit.length === 50, 'all processed');
    expect(mailer.filter((name) => name === 'a').length).toBeGreaterThan(0);
    expect(mailer.filter((name) => name === 'b').length).toBeGreaterThan(0);
  });
});

describe('EventBroker default groups', () => {
  it('gives an anonymous handler a group derived from the service and its patterns, the same on every instance', async () => {
    const transport = new MemoryTransport();
    const first = makeBroker({ transport, serviceName: 'api', instanceId: 'api-1' });
    const second = makeBroker({ transport, serviceName: 'api', instanceId: 'api-2' });
    const handled: string[] = [];
    const one = await first.subscribe(['public.users.*', 'billing.**'], async (event) => void handled.push(`api-1 ${event.id}`));
    const other = await second.subscribe(['billing.**', 'public.users.*'], async (event) => void handled.push(`api-2 ${event.id}`));
    expect(one.group).toMatch(/^api\.patterns:[0-9a-f]{12}$/);
    expect(other.group).toBe(one.group);
    expect((await makeBroker({ serviceName: 'api' }).subscribe('public.users.*', () => undefined)).group).not.toBe(one.group);
    expect((await makeBroker({ serviceName: 'web' }).subscribe(['public.users.*', 'billing.**'], () => undefined)).group).not.toBe(
      one.group,
    );

    await Promise.all([first.start(), second.start()]);
    const events = await Promise.all([1, 2, 3, 4].map((n) => first.publish(userCreated({ n }))));
    await waitFor(() => handled.length === 4, 'each event handled once by the group');
    expect(new Set(handled.map((line) => line.split(' ')[1]))).toEqual(new Set(events.map((event) => event.id)));
  });

  it('refuses a second anonymous handler on the same patterns, saying how to tell them apart', async () => {
    const broker = makeBroker({ serviceName: 'api' });
    const first = await broker.subscribe('public.users.*', () => undefined);
    await expect(broker.subscribe('public.users.*', () => undefined)).rejects.toThrow(
      `Another handler without a name already subscribes to public.users.* on this broker, in group ${first.group}: give one of them options.group, or use a named function`,
    );
  });
});
