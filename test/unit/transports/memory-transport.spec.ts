import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BrokerEvent, EventSource, EventStatus } from '../../../lib/core/broker-event.interface.js';
import { createEvent, type CreateEventInput } from '../../../lib/core/create-event.js';
import { BrokerStateError, EventBrokerError } from '../../../lib/core/event-broker.errors.js';
import type { Consumer, Delivery, EventFilter, FlowControl } from '../../../lib/transports/event-transport.interface.js';
import type { MemoryTransportOptions } from '../../../lib/transports/memory/memory-transport-options.interface.js';
import { MemoryTransport } from '../../../lib/transports/memory/memory-transport.js';

const BASE_TIME = Date.UTC(2024, 0, 1, 12, 0, 0);
let counter = 0;

/** A `pending` event; each call gets a distinct payload and a later `createdAt`. */
function makeEvent(type = 'public.users.create', input: Partial<CreateEventInput> = {}): BrokerEvent {
  counter++;
  return createEvent({
    type,
    payload: { n: counter },
    source: 'internal',
    instanceId: 'instance-1',
    createdAt: new Date(BASE_TIME + counter * 1000),
    ...input,
  });
}

/** Flow control with a fixed limit of deliveries handed out and not yet settled. */
class TestFlow implements FlowControl {
  outstanding = 0;
  private waiters = new Set<() => void>();

  constructor(private limit: number) {}

  capacity(): number {
    return this.limit - this.outstanding;
  }

  async whenReady(signal: AbortSignal): Promise<void> {
    while (this.capacity() <= 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.wake();
  }

  taken(): void {
    this.outstanding++;
  }

  released(): void {
    this.outstanding--;
    this.wake();
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter();
  }
}

interface Probe {
  deliveries: Delivery[];
  settled: Set<Delivery>;
  consumer: Consumer;
  flow: TestFlow;
  /** Handed out and not settled (through the tracked delivery). */
  open(): Delivery[];
}

/** Wraps a delivery so that settling it frees capacity in `flow`; a settle that throws frees nothing. */
function track(delivery: Delivery, flow: TestFlow, settled: Set<Delivery>): Delivery {
  const tracked: Delivery = {
    event: delivery.event,
    group: delivery.group,
    attempt: delivery.attempt,
    ack: async () => {
      await delivery.ack();
      settled.add(tracked);
      flow.released();
    },
    retry: async (delayMs, error) => {
      await delivery.retry(delayMs, error);
      settled.add(tracked);
      flow.released();
    },
    deadLetter: async (error, attempts) => {
      await delivery.deadLetter(error, attempts);
      settled.add(tracked);
      flow.released();
    },
  };
  return tracked;
}

async function startConsumer(transport: MemoryTransport, group: string, patterns: string[], limit = Infinity): Promise<Probe> {
  const flow = new TestFlow(limit);
  const deliveries: Delivery[] = [];
  const settled = new Set<Delivery>();
  const consumer = await transport.consume(
    { group, patterns, consumerName: 'test-consumer' },
    (delivery) => {
      flow.taken();
      deliveries.push(track(delivery, flow, settled));
    },
    flow,
  );
  return { deliveries, settled, consumer, flow, open: () => deliveries.filter((delivery) => !settled.has(delivery)) };
}

/** Lets the consumers' feed loops run (they yield with microtasks and `setImmediate`). */
async function flush(): Promise<void> {
  for (let round = 0; round < 5; round++) await new Promise((resolve) => setImmediate(resolve));
}

/** Fake timers and Date, but a real `setImmediate` so that `flush` keeps working. */
function useFakeClock(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
}

const ids = (events: readonly { id: string }[]): string[] => events.map((event) => event.id);
const eventIds = (deliveries: readonly Delivery[]): string[] => deliveries.map((delivery) => delivery.event.id);
const types = (deliveries: readonly Delivery[]): string[] => deliveries.map((delivery) => delivery.event.type);

const transports: MemoryTransport[] = [];

function newTransport(options?: MemoryTransportOptions): MemoryTransport {
  const transport = new MemoryTransport(options);
  transports.push(transport);
  return transport;
}

afterEach(async () => {
  await Promise.all(transports.splice(0).map((transport) => transport.close()));
  vi.useRealTimers();
});

describe('MemoryTransport options', () => {
  it('refuses an unknown option, naming the one meant', () => {
    expect(() => new MemoryTransport({ maxEvent: 5 } as MemoryTransportOptions)).toThrow(
      'MemoryTransport option maxEvent is unknown; did you mean maxEvents?',
    );
  });
});

describe('MemoryTransport filters', () => {
  it('refuses a status, source or date that no event can have, naming the allowed values', async () => {
    const transport = new MemoryTransport();
    await transport.connect();
    await expect(transport.list({ status: 'bogus' as EventStatus })).rejects.toThrow(
      'Invalid event filter: status must be one of pending, processing, completed, failed, got "bogus"',
    );
    await expect(transport.list({ source: 'bogus' as EventSource })).rejects.toThrow(
      'Invalid event filter: source must be one of database, websocket, frontend, system, internal, got "bogus"',
    );
    await expect(transport.list({ staus: 'failed' } as EventFilter)).rejects.toThrow(
      'event filter option staus is unknown; did you mean status?',
    );
    await expect(transport.list({ since: new Date('yesterday') })).rejects.toThrow('Invalid event filter: since must be a valid Date');
    await expect(transport.list({ until: '2026-01-01' as unknown as Date })).rejects.toThrow(
      'Invalid event filter: until must be a valid Date, got "2026-01-01"',
    );
    await transport.close();
  });
});

describe('MemoryTransport', () => {
  it('reports its type and is not durable', () => {
    const transport = newTransport();
    expect(transport.type).toBe('memory');
    expect(transport.durable).toBe(false);
  });

  describe('publish, get and delete', () => {
    it('stores a published event and returns it from get; an unknown id gives null', async () => {
      const transport = newTransport();
      const event = makeEvent('public.users.create', { userId: 42, source: 'database' });

      await expect(transport.publish(event)).resolves.toEqual([]);

      const stored = await transport.get(event.id);
      expect(stored).toMatchObject({
        id: event.id,
        type: 'public.users.create',
        source: 'database',
        userId: 42,
        instanceId: 'instance-1',
        schema: 'public',
        entity: 'users',
        operation: 'create',
        payload: event.payload,
        createdAt: event.createdAt,
        retryCount: 0,
      });
      await expect(transport.get('no-such-id')).resolves.toBeNull();
    });

    it('delete returns true for a stored event, then false, and the event is gone', async () => {
      const transport = newTransport();
      const event = makeEvent();
      await transport.publish(event);

      await expect(transport.delete(event.id)).resolves.toBe(true);
      await expect(transport.get(event.id)).resolves.toBeNull();
      await expect(transport.delete(event.id)).resolves.toBe(false);
      await expect(transport.delete('never-stored')).resolves.toBe(false);
      expect((await transport.stats()).events).toBe(0);
    });

    it('stores a copy: mutating the published object afterwards does not change the stored event', async () => {
      const transport = newTransport();
      const event = makeEvent('public.users.create', { metadata: { tenant: 'a' } });
      await transport.publish(event);

      event.type = 'public.users.delete';
      event.metadata.tenant = 'b';

      const stored = await transport.get(event.id);
      expect(stored?.type).toBe('public.users.create');
      expect(stored?.metadata).toEqual({ tenant: 'a' });
    });

    it('returns a copy from get: mutating it does not change the stored event', async () => {
      const transport = newTransport();
      const event = makeEvent('public.users.create', { metadata: { tenant: 'a' } });
      await transport.publish(event);

      const first = await transport.get(event.id);
      if (!first) throw new Error('event not stored');
      first.status = 'failed';
      first.type = 'public.users.delete';
      first.error = 'tampered';
      first.retryCount = 9;
      first.metadata.tenant = 'b';
      first.metadata.extra = true;

      const second = await transport.get(event.id);
      expect(second).not.toBe(first);
      expect(second?.status).toBe('completed');
      expect(second?.type).toBe('public.users.create');
      expect(second?.error).toBeUndefined();
      expect(second?.retryCount).toBe(0);
      expect(second?.metadata).toEqual({ tenant: 'a' });
    });

    it('returns a copy from get whose nested payload is not shared with the stored event', async () => {
      const transport = newTransport();
      const event = makeEvent('public.users.create', { payload: { user: { name: 'Ada' } } });
      await transport.publish(event);

      const first = (await transport.get(event.id)) as BrokerEvent<{ user: { name: string } }>;
      first.payload.user.name = 'tampered';

      const second = (await transport.get(event.id)) as BrokerEvent<{ user: { name: string } }>;
      expect(second.payload).toEqual({ user: { name: 'Ada' } });
    });

    it('returns a copy from get whose Date fields are not shared with the stored event', async () => {
      const transport = newTransport();
      const event = makeEvent();
      const createdAt = event.createdAt.getTime();
      await transport.publish(event);

      const first = await transport.get(event.id);
      first?.createdAt.setTime(0);

      const second = await transport.get(event.id);
      expect(second?.createdAt.getTime()).toBe(createdAt);
      // The stored createdAt drives the since/until filters.
      expect(ids(await transport.list({ until: new Date(1000) }))).toEqual([]);
    });

    it('treats a second publish of the same event id as a no-op (idempotent publish)', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      const event = makeEvent('public.users.create', { id: '3f1c2b8e-0c4e-4d5a-9f51-6a0b9c7d1e21' });
      await transport.publish(event);
      await flush();
      await probe.deliveries[0].ack();

      await transport.publish(event);
      await flush();

      expect(probe.deliveries).toHaveLength(1);
      expect((await transport.get(event.id))?.status).toBe('completed');
      expect((await transport.stats()).groups.g).toEqual({ pending: 0, inFlight: 0, deadLetters: 0 });
    });

    it('updateStatus changes the stored status and details; an unknown id throws', async () => {
      const transport = newTransport();
      const event = makeEvent();
      await transport.publish(event);
      const processedAt = new Date(BASE_TIME + 5);

      await transport.updateStatus(event.id, 'failed', { error: 'manual', processedAt });

      expect(await transport.get(event.id)).toMatchObject({ status: 'failed', error: 'manual', processedAt });
      await expect(transport.updateStatus('missing', 'completed')).rejects.toThrow(/missing: no such event/);
    });
  });

  describe('routing', () => {
    it('fans an event out to every group whose patterns match', async () => {
      const transport = newTransport();
      const a = await startConsumer(transport, 'a', ['public.users.*']);
      const b = await startConsumer(transport, 'b', ['public.**']);
      const other = await startConsumer(transport, 'other', ['audit.*']);
      const event = makeEvent('public.users.create');

      await transport.publish(event);
      await flush();

      expect(a.deliveries).toHaveLength(1);
      expect(b.deliveries).toHaveLength(1);
      expect(other.deliveries).toHaveLength(0);
      for (const [probe, group] of [
        [a, 'a'],
        [b, 'b'],
      ] as const) {
        const [delivery] = probe.deliveries;
        expect(delivery.group).toBe(group);
        expect(delivery.attempt).toBe(1);
        expect(delivery.event).toMatchObject({ id: event.id, type: 'public.users.create', status: 'processing', retryCount: 0 });
      }
      // Each group gets its own copy.
      expect(a.deliveries[0].event).not.toBe(b.deliveries[0].event);
    });

    it('hands each event to exactly one of the competing consumers of a group, and both get some', async () => {
      const transport = newTransport();
      const first = await startConsumer(transport, 'g', ['public.**'], 1);
      const second = await startConsumer(transport, 'g', ['public.**'], 1);
      const events = Array.from({ length: 20 }, () => makeEvent());

      for (const event of events) await transport.publish(event);
      for (let round = 0; round < 100 && first.deliveries.length + second.deliveries.length < events.length; round++) {
        await flush();
        for (const delivery of [...first.open(), ...second.open()]) await delivery.ack();
      }
      await flush();

      const delivered = [...eventIds(first.deliveries), ...eventIds(second.deliveries)];
      expect(delivered).toHaveLength(events.length);
      expect(new Set(delivered).size).toBe(events.length);
      expect(delivered.toSorted()).toEqual(ids(events).toSorted());
      expect(first.deliveries.length).toBeGreaterThan(0);
      expect(second.deliveries.length).toBeGreaterThan(0);
      for (const event of events) expect((await transport.get(event.id))?.status).toBe('completed');
    });

    it('matches `*` as exactly one segment and a trailing `**` as one or more', async () => {
      const transport = newTransport();
      const oneSegment = await startConsumer(transport, 'one', ['public.*.create']);
      const deep = await startConsumer(transport, 'deep', ['public.**']);
      const everything = await startConsumer(transport, 'all', ['*']);
      const published = ['public.users.create', 'public.users.update', 'public.orders.items.create', 'public', 'other.users.create'];

      for (const type of published) await transport.publish(makeEvent(type));
      await flush();

      expect(types(oneSegment.deliveries)).toEqual(['public.users.create']);
      expect(types(deep.deliveries)).toEqual(['public.users.create', 'public.users.update', 'public.orders.items.create']);
      expect(types(everything.deliveries)).toEqual(published);
    });

    it('routes to a group when any of its patterns matches, once per event', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.users.create', 'public.orders.*', 'public.**']);

      for (const type of ['public.users.create', 'public.orders.update', 'audit.login', 'public.users.delete']) {
        await transport.publish(makeEvent(type));
      }
      await flush();

      expect(types(probe.deliveries)).toEqual(['public.users.create', 'public.orders.update', 'public.users.delete']);
    });

    it('rejects a consumer of the same group with different patterns, with a clear error', async () => {
      const transport = newTransport();
      await startConsumer(transport, 'g', ['public.users.*', 'audit.*']);

      await expect(startConsumer(transport, 'g', ['public.orders.*'])).rejects.toThrow(EventBrokerError);
      await expect(startConsumer(transport, 'g', ['public.users.*'])).rejects.toThrow(
        'Group g is consumed with patterns [public.users.*, audit.*]; a consumer of the same group cannot use [public.users.*]',
      );
      // The same patterns in another order are the same subscription.
      await expect(startConsumer(transport, 'g', ['audit.*', 'public.users.*'])).resolves.toBeDefined();
    });

    it('rejects an invalid pattern at consume', async () => {
      const transport = newTransport();
      await expect(startConsumer(transport, 'g', ['public..users'])).rejects.toThrow(/Invalid event pattern/);
      await expect(startConsumer(transport, 'h', ['public.**.create'])).rejects.toThrow(/"\*\*" is only allowed as the last segment/);
    });

    it('keeps routing to a group while one of its consumers is open', async () => {
      const transport = newTransport();
      const first = await startConsumer(transport, 'g', ['public.**']);
      const second = await startConsumer(transport, 'g', ['public.**']);
      await first.consumer.close();

      await transport.publish(makeEvent());
      await flush();

      expect(first.deliveries).toHaveLength(0);
      expect(second.deliveries).toHaveLength(1);
    });

    it('stops routing new events to a group whose consumers all closed', async () => {
      const transport = newTransport();
      const closing = await startConsumer(transport, 'g', ['public.**']);
      const staying = await startConsumer(transport, 'h', ['public.**']);
      await closing.consumer.close();
      const event = makeEvent();

      await transport.publish(event);
      await flush();

      expect(closing.deliveries).toHaveLength(0);
      expect(staying.deliveries).toHaveLength(1);
      expect((await transport.stats()).groups.g).toEqual({ pending: 0, inFlight: 0, deadLetters: 0 });
      await staying.deliveries[0].ack();
      // Only h was routed to: its ack completes the event.
      expect((await transport.get(event.id))?.status).toBe('completed');

      // With no consumer the group can be joined again, with new patterns.
      const rejoined = await startConsumer(transport, 'g', ['audit.*']);
      await transport.publish(makeEvent('audit.login'));
      await flush();
      expect(types(rejoined.deliveries)).toEqual(['audit.login']);
    });

    it('lets deliveries handed out before consumer.close be settled afterwards', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**'], 1);
      const first = makeEvent();
      await transport.publish(first);
      await transport.publish(makeEvent());
      await flush();
      expect(probe.deliveries).toHaveLength(1);

      await probe.consumer.close();
      await probe.deliveries[0].ack();
      await flush();

      expect(probe.deliveries).toHaveLength(1);
      expect((await transport.get(first.id))?.status).toBe('completed');
      expect((await transport.stats()).groups.g).toEqual({ pending: 1, inFlight: 0, deadLetters: 0 });
    });
  });

  describe('flow control', () => {
    it('hands out no more than the capacity allows until deliveries settle', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**'], 2);
      const events = Array.from({ length: 10 }, () => makeEvent());

      for (const event of events) await transport.publish(event);
      await flush();

      expect(probe.deliveries).toHaveLength(2);
      expect((await transport.stats()).groups.g).toEqual({ pending: 8, inFlight: 2, deadLetters: 0 });

      await probe.deliveries[0].ack();
      await flush();
      expect(probe.deliveries).toHaveLength(3);
      expect((await transport.stats()).groups.g).toEqual({ pending: 7, inFlight: 2, deadLetters: 0 });

      for (let round = 0; round < 20 && probe.settled.size < events.length; round++) {
        expect(probe.open().length).toBeLessThanOrEqual(2);
        for (const delivery of probe.open()) await delivery.ack();
        await flush();
      }

      // Queued deliveries come out in publish order.
      expect(eventIds(probe.deliveries)).toEqual(ids(events));
      expect((await transport.stats()).groups.g).toEqual({ pending: 0, inFlight: 0, deadLetters: 0 });
    });

    it('hands out nothing at capacity 0 and resumes when capacity frees up', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**'], 0);
      await transport.publish(makeEvent());
      await flush();
      expect(probe.deliveries).toHaveLength(0);

      probe.flow.setLimit(1);
      await flush();
      expect(probe.deliveries).toHaveLength(1);
    });

    it('makes a publish wait while a group already has maxQueued deliveries waiting', async () => {
      const transport = newTransport({ maxQueued: 3 });
      const probe = await startConsumer(transport, 'g', ['public.**'], 0);
      for (let n = 0; n < 3; n++) await transport.publish(makeEvent());
      const fourth = makeEvent();
      let accepted = false;
      const publishing = transport.publish(fourth).then(() => {
        accepted = true;
      });
      await flush();
      expect(accepted).toBe(false);
      expect(await transport.get(fourth.id)).toBeNull();

      probe.flow.setLimit(1);
      await publishing;
      expect(await transport.get(fourth.id)).not.toBeNull();
      expect((await transport.stats()).groups.g.pending).toBe(3);
    });
  });

  describe('settling deliveries', () => {
    it('completes the event only once every routed group acked', async () => {
      const transport = newTransport();
      const a = await startConsumer(transport, 'a', ['public.**'], 0);
      const b = await startConsumer(transport, 'b', ['public.**'], 0);
      const event = makeEvent();
      await transport.publish(event);
      await flush();

      const pending = await transport.get(event.id);
      expect(pending?.status).toBe('pending');
      expect(pending?.processedAt).toBeUndefined();

      a.flow.setLimit(1);
      b.flow.setLimit(1);
      await flush();
      const processing = await transport.get(event.id);
      expect(processing?.status).toBe('processing');
      expect(processing?.processedAt).toBeInstanceOf(Date);
      expect(processing?.completedAt).toBeUndefined();

      await a.deliveries[0].ack();
      const half = await transport.get(event.id);
      expect(half?.status).toBe('processing');
      expect(half?.completedAt).toBeUndefined();

      await b.deliveries[0].ack();
      const done = await transport.get(event.id);
      expect(done?.status).toBe('completed');
      expect(done?.completedAt).toBeInstanceOf(Date);
      expect(done?.completedAt?.getTime()).toBeGreaterThanOrEqual(done?.processedAt?.getTime() ?? Infinity);
      expect(done?.error).toBeUndefined();
    });

    it('redelivers after the retry delay with the next attempt number', async () => {
      useFakeClock();
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      const event = makeEvent();
      await transport.publish(event);
      await flush();
      expect(probe.deliveries).toHaveLength(1);
      expect(probe.deliveries[0]).toMatchObject({ attempt: 1, event: { retryCount: 0 } });

      await probe.deliveries[0].retry(1000, 'boom');
      expect((await transport.stats()).groups.g).toEqual({ pending: 1, inFlight: 0, deadLetters: 0 });

      await vi.advanceTimersByTimeAsync(999);
      await flush();
      expect(probe.deliveries).toHaveLength(1);

      await vi.advanceTimersByTimeAsync(1);
      await flush();
      expect(probe.deliveries).toHaveLength(2);
      const second = probe.deliveries[1];
      expect(second.group).toBe('g');
      expect(second.attempt).toBe(2);
      expect(second.event).toMatchObject({ id: event.id, status: 'processing', retryCount: 1 });
      expect((await transport.stats()).groups.g).toEqual({ pending: 0, inFlight: 1, deadLetters: 0 });

      await second.retry(500, 'boom again');
      await vi.advanceTimersByTimeAsync(500);
      await flush();
      expect(probe.deliveries).toHaveLength(3);
      expect(probe.deliveries[2]).toMatchObject({ attempt: 3, event: { retryCount: 2 } });
      expect((await transport.get(event.id))?.status).toBe('processing');

      await probe.deliveries[2].ack();
      expect(await transport.get(event.id)).toMatchObject({ status: 'completed', retryCount: 2 });
    });

    it('redelivers a retried delivery after a short real delay', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      await transport.publish(makeEvent());
      await flush();

      await probe.deliveries[0].retry(20, 'boom');
      await flush();
      expect(probe.deliveries).toHaveLength(1);

      await vi.waitFor(() => expect(probe.deliveries).toHaveLength(2), { timeout: 1000, interval: 5 });
      expect(probe.deliveries[1].attempt).toBe(2);
    });

    it('dead-letters a delivery: the event fails with the error and the dead letter records group, error and attempts', async () => {
      useFakeClock();
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      const event = makeEvent();
      await transport.publish(event);
      await flush();
      await probe.deliveries[0].retry(100, 'first failure');
      await vi.advanceTimersByTimeAsync(100);
      await flush();

      await probe.deliveries[1].deadLetter('final failure');

      expect(await transport.get(event.id)).toMatchObject({ status: 'failed', error: 'final failure' });
      const letters = await transport.deadLetters();
      expect(letters).toHaveLength(1);
      const [letter] = letters;
      expect(letter).toMatchObject({ group: 'g', error: 'final failure', attempts: 2, event: { id: event.id, status: 'failed' } });
      expect(typeof letter.id).toBe('string');
      expect(letter.id.length).toBeGreaterThan(0);
      expect(letter.deadLetteredAt).toBeInstanceOf(Date);
      expect(await transport.stats()).toMatchObject({ deadLetters: 1, groups: { g: { pending: 0, inFlight: 0, deadLetters: 1 } } });
    });

    it('records the attempts given to deadLetter, for retries the publisher made inline', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      const event = makeEvent();
      await transport.publish(event);
      await flush();

      await probe.deliveries[0].deadLetter('inline failures', 4);

      const [letter] = await transport.deadLetters();
      expect(letter).toMatchObject({ attempts: 4, error: 'inline failures', event: { id: event.id, retryCount: 3 } });
      expect(await transport.get(event.id)).toMatchObject({ status: 'failed', retryCount: 3 });
    });

    it('keeps the event failed when another group acks after one dead-lettered it', async () => {
      const transport = newTransport();
      const a = await startConsumer(transport, 'a', ['public.**']);
      const b = await startConsumer(transport, 'b', ['public.**']);
      const event = makeEvent();
      await transport.publish(event);
      await flush();

      await a.deliveries[0].deadLetter('a failed');
      await b.deliveries[0].ack();

      expect(await transport.get(event.id)).toMatchObject({ status: 'failed', error: 'a failed' });
      expect((await transport.get(event.id))?.completedAt).toBeUndefined();
    });

    it.each([
      ['ack', 'ack'],
      ['ack', 'retry'],
      ['retry', 'ack'],
      ['deadLetter', 'ack'],
      ['ack', 'deadLetter'],
    ] as const)('throws when a delivery settled with %s is settled again with %s', async (first, second) => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      const event = makeEvent();
      await transport.publish(event);
      await flush();
      const [delivery] = probe.deliveries;

      const settle = (how: 'ack' | 'retry' | 'deadLetter'): Promise<void> =>
        how === 'ack' ? delivery.ack() : how === 'retry' ? delivery.retry(60_000, 'boom') : delivery.deadLetter('boom');
      await settle(first);
      await expect(settle(second)).rejects.toThrow(`Delivery of event ${event.id} to group g was already settled`);
      // The failed second settle did not change the group's counters.
      expect((await transport.stats()).groups.g.inFlight).toBe(0);
    });

    it('replays a dead letter to its group as a first attempt and removes it from the store', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      const event = makeEvent();
      await transport.publish(event);
      await flush();
      await probe.deliveries[0].deadLetter('broken');
      const [letter] = await transport.deadLetters();

      await transport.replay(letter.id);

      await expect(transport.deadLetters()).resolves.toEqual([]);
      await flush();
      expect(probe.deliveries).toHaveLength(2);
      const replayed = probe.deliveries[1];
      expect(replayed.group).toBe('g');
      expect(replayed.attempt).toBe(1);
      expect(replayed.event).toMatchObject({ id: event.id, retryCount: 0, status: 'processing' });
      const during = await transport.get(event.id);
      expect(during?.status).toBe('processing');
      expect(during?.error).toBeUndefined();

      await replayed.ack();
      expect((await transport.get(event.id))?.status).toBe('completed');
      expect((await transport.stats()).deadLetters).toBe(0);
      await expect(transport.replay(letter.id)).rejects.toThrow(/no such dead letter/);
    });

    it('rejects the replay of an unknown dead letter', async () => {
      const transport = newTransport();
      await expect(transport.replay('nope')).rejects.toThrow('Cannot replay dead letter nope: no such dead letter');
    });

    it('rejects the replay of a dead letter whose group has no consumer, and keeps it', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      await transport.publish(makeEvent());
      await flush();
      await probe.deliveries[0].deadLetter('broken');
      await probe.consumer.close();
      const [letter] = await transport.deadLetters();

      await expect(transport.replay(letter.id)).rejects.toThrow(/group g has no consumer/);
      await expect(transport.deadLetters()).resolves.toHaveLength(1);
    });

    it('filters dead letters by group and windows them with limit and offset from the newest', async () => {
      const transport = newTransport();
      const g1 = await startConsumer(transport, 'g1', ['public.**']);
      const g2 = await startConsumer(transport, 'g2', ['public.**']);
      const events = Array.from({ length: 5 }, () => makeEvent());
      for (const event of events) await transport.publish(event);
      await flush();

      for (const delivery of g1.deliveries) await delivery.deadLetter(`g1 ${delivery.event.id}`);
      for (const [index, delivery] of g2.deliveries.entries()) {
        if (index < 2) await delivery.deadLetter('g2 failed');
        else await delivery.ack();
      }
      const [e1, e2, e3, e4, e5] = ids(events);

      expect(await transport.deadLetters()).toHaveLength(7);
      expect(ids((await transport.deadLetters({ group: 'g1' })).map((letter) => letter.event))).toEqual([e1, e2, e3, e4, e5]);
      expect((await transport.deadLetters({ group: 'g1' })).map((letter) => letter.error)).toEqual(ids(events).map((id) => `g1 ${id}`));
      expect(ids((await transport.deadLetters({ group: 'g2' })).map((letter) => letter.event))).toEqual([e1, e2]);
      expect(ids((await transport.deadLetters({ group: 'g1', limit: 2 })).map((letter) => letter.event))).toEqual([e4, e5]);
      expect(ids((await transport.deadLetters({ group: 'g1', limit: 2, offset: 1 })).map((letter) => letter.event))).toEqual([e3, e4]);
      expect(ids((await transport.deadLetters({ group: 'g1', offset: 4 })).map((letter) => letter.event))).toEqual([e1]);
      await expect(transport.deadLetters({ group: 'g1', offset: 5 })).resolves.toEqual([]);
      await expect(transport.deadLetters({ group: 'unknown' })).resolves.toEqual([]);
      const all = await transport.deadLetters({ limit: 3 });
      expect(all.map((letter) => letter.group)).toEqual(['g1', 'g2', 'g2']);
    });

    it('evicts the oldest dead letters beyond maxDeadLetters', async () => {
      const transport = newTransport({ maxDeadLetters: 2 });
      const probe = await startConsumer(transport, 'g', ['public.**']);
      const events = Array.from({ length: 3 }, () => makeEvent());
      for (const event of events) await transport.publish(event);
      await flush();
      for (const delivery of probe.deliveries) await delivery.deadLetter('broken');

      expect(ids((await transport.deadLetters()).map((letter) => letter.event))).toEqual(ids(events.slice(1)));
      expect((await transport.stats()).deadLetters).toBe(2);
    });
  });

  describe('claimed groups', () => {
    it('returns the delivery of a claimed group from publish instead of handing it to the group consumers', async () => {
      const transport = newTransport();
      const claimed = await startConsumer(transport, 'g', ['public.**']);
      const other = await startConsumer(transport, 'h', ['public.**']);
      const event = makeEvent();

      const deliveries = await transport.publish(event, { claimGroups: ['g'] });
      await flush();

      expect(deliveries).toHaveLength(1);
      expect(deliveries[0].group).toBe('g');
      expect(deliveries[0].attempt).toBe(1);
      expect(deliveries[0].event).toMatchObject({ id: event.id, status: 'processing', retryCount: 0 });
      expect(claimed.deliveries).toHaveLength(0);
      expect(eventIds(other.deliveries)).toEqual([event.id]);
      expect((await transport.stats()).groups.g).toEqual({ pending: 0, inFlight: 1, deadLetters: 0 });

      await deliveries[0].ack();
      expect((await transport.get(event.id))?.status).toBe('processing');
      await other.deliveries[0].ack();
      expect((await transport.get(event.id))?.status).toBe('completed');
      await flush();
      expect(claimed.deliveries).toHaveLength(0);
    });

    it('returns a delivery for a claimed group that has no consumer', async () => {
      const transport = newTransport();
      const event = makeEvent();

      const deliveries = await transport.publish(event, { claimGroups: ['inline'] });

      expect(deliveries.map((delivery) => delivery.group)).toEqual(['inline']);
      expect((await transport.get(event.id))?.status).toBe('processing');
      await deliveries[0].ack();
      expect((await transport.get(event.id))?.status).toBe('completed');
    });

    it('completes an event that matches no group at once', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['audit.*']);
      const event = makeEvent('public.users.create');

      await expect(transport.publish(event)).resolves.toEqual([]);
      await flush();

      const stored = await transport.get(event.id);
      expect(stored?.status).toBe('completed');
      expect(stored?.completedAt).toBeInstanceOf(Date);
      expect(probe.deliveries).toHaveLength(0);
    });
  });

  describe('history', () => {
    it('evicts the oldest events beyond maxEvents but still delivers their queued deliveries', async () => {
      const transport = newTransport({ maxEvents: 3 });
      const probe = await startConsumer(transport, 'g', ['public.**'], 0);
      const events = Array.from({ length: 4 }, () => makeEvent());
      for (const event of events) await transport.publish(event);

      await expect(transport.get(events[0].id)).resolves.toBeNull();
      for (const event of events.slice(1)) expect((await transport.get(event.id))?.id).toBe(event.id);
      expect(ids(await transport.list())).toEqual(ids(events.slice(1)));
      expect((await transport.stats()).events).toBe(3);

      probe.flow.setLimit(10);
      await flush();
      expect(eventIds(probe.deliveries)).toEqual(ids(events));
      for (const delivery of probe.deliveries) await delivery.ack();
      await expect(transport.get(events[0].id)).resolves.toBeNull();
      expect((await transport.get(events[3].id))?.status).toBe('completed');
    });

    it('removes completed events older than maxAgeMs at the cleanup interval and keeps pending and failed ones', async () => {
      useFakeClock();
      const transport = newTransport({ maxAgeMs: 1000, cleanupIntervalMs: 500 });
      await transport.connect();
      await startConsumer(transport, 'waiting', ['work.*'], 0);
      const failing = await startConsumer(transport, 'failing', ['fail.*']);
      const done = makeEvent('done.now');
      const waiting = makeEvent('work.later');
      const failed = makeEvent('fail.now');
      await transport.publish(done);
      await transport.publish(waiting);
      await transport.publish(failed);
      await flush();
      await failing.deliveries[0].deadLetter('broken');

      await vi.advanceTimersByTimeAsync(1000);
      // Exactly maxAgeMs old is not older than maxAgeMs.
      expect((await transport.get(done.id))?.status).toBe('completed');

      await vi.advanceTimersByTimeAsync(200);
      const late = makeEvent('done.later');
      await transport.publish(late);

      await vi.advanceTimersByTimeAsync(300);
      await expect(transport.get(done.id)).resolves.toBeNull();
      expect((await transport.get(late.id))?.status).toBe('completed');
      expect((await transport.get(waiting.id))?.status).toBe('pending');
      expect((await transport.get(failed.id))?.status).toBe('failed');
      expect((await transport.stats()).events).toBe(3);
    });

    it('runs no cleanup after close', async () => {
      useFakeClock();
      const transport = newTransport({ maxAgeMs: 1000, cleanupIntervalMs: 500 });
      await transport.connect();
      const event = makeEvent();
      await transport.publish(event);
      await transport.close();

      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(5000);
      expect((await transport.get(event.id))?.status).toBe('completed');
    });

    const optionNames = ['maxEvents', 'maxAgeMs', 'cleanupIntervalMs', 'maxDeadLetters'] as const;
    it.each(optionNames.flatMap((name) => [0, -1, 1.5, Number.NaN].map((value) => [name, value] as const)))(
      'rejects option %s = %s, naming the option',
      (name, value) => {
        expect(() => new MemoryTransport({ [name]: value })).toThrow(
          new RegExp(`MemoryTransport option ${name} must be a positive integer, got ${value}`),
        );
      },
    );

    it('uses the default for an option given as undefined', () => {
      const options: MemoryTransportOptions = { maxEvents: undefined, maxAgeMs: 5000 };
      expect(() => newTransport(options)).not.toThrow();
    });
  });

  describe('list', () => {
    const T = BASE_TIME + 1_000_000_000;

    async function seed(): Promise<{ transport: MemoryTransport; e1: BrokerEvent; e2: BrokerEvent; e3: BrokerEvent; e4: BrokerEvent }> {
      const transport = newTransport();
      // e3 stays pending (capacity 0), e2 is processing (handed out, not settled), the others complete at once.
      await startConsumer(transport, 'orders', ['public.orders.*'], 0);
      await startConsumer(transport, 'updates', ['public.users.update']);
      const e1 = makeEvent('public.users.create', { source: 'database', instanceId: 'a', userId: 42, createdAt: new Date(T + 1000) });
      const e2 = makeEvent('public.users.update', { source: 'frontend', instanceId: 'b', userId: '42', createdAt: new Date(T + 2000) });
      const e3 = makeEvent('public.orders.create', { source: 'database', instanceId: 'b', userId: 7, createdAt: new Date(T + 3000) });
      const e4 = makeEvent('audit.login', { source: 'system', instanceId: 'a', createdAt: new Date(T + 4000) });
      for (const event of [e1, e2, e3, e4]) await transport.publish(event);
      await flush();
      return { transport, e1, e2, e3, e4 };
    }

    it('returns every event oldest first when no filter is given', async () => {
      const { transport, e1, e2, e3, e4 } = await seed();
      expect(ids(await transport.list())).toEqual(ids([e1, e2, e3, e4]));
      expect(ids(await transport.list({}))).toEqual(ids([e1, e2, e3, e4]));
    });

    it('filters by source, type pattern, status and instanceId', async () => {
      const { transport, e1, e2, e3, e4 } = await seed();

      expect(ids(await transport.list({ source: 'database' }))).toEqual(ids([e1, e3]));
      expect(ids(await transport.list({ source: 'websocket' }))).toEqual([]);
      expect(ids(await transport.list({ type: 'public.users.*' }))).toEqual(ids([e1, e2]));
      expect(ids(await transport.list({ type: '*.*.create' }))).toEqual(ids([e1, e3]));
      expect(ids(await transport.list({ type: 'public.**' }))).toEqual(ids([e1, e2, e3]));
      expect(ids(await transport.list({ type: 'audit.login' }))).toEqual(ids([e4]));
      expect(ids(await transport.list({ type: '*' }))).toEqual(ids([e1, e2, e3, e4]));
      expect(ids(await transport.list({ status: 'completed' }))).toEqual(ids([e1, e4]));
      expect(ids(await transport.list({ status: 'processing' }))).toEqual(ids([e2]));
      expect(ids(await transport.list({ status: 'pending' }))).toEqual(ids([e3]));
      expect(ids(await transport.list({ status: 'failed' }))).toEqual([]);
      expect(ids(await transport.list({ instanceId: 'b' }))).toEqual(ids([e2, e3]));
      expect(ids(await transport.list({ instanceId: 'c' }))).toEqual([]);
      expect(ids(await transport.list({ source: 'database', instanceId: 'a' }))).toEqual(ids([e1]));
    });

    it('filters by userId, a number matching its string form and back', async () => {
      const { transport, e1, e2, e3 } = await seed();

      expect(ids(await transport.list({ userId: 42 }))).toEqual(ids([e1, e2]));
      expect(ids(await transport.list({ userId: '42' }))).toEqual(ids([e1, e2]));
      expect(ids(await transport.list({ userId: 7 }))).toEqual(ids([e3]));
      expect(ids(await transport.list({ userId: '7' }))).toEqual(ids([e3]));
      expect(ids(await transport.list({ userId: 4 }))).toEqual([]);
      expect(ids(await transport.list({ userId: 42, source: 'frontend' }))).toEqual(ids([e2]));
    });

    it('does not match an event without userId to a userId filter', async () => {
      const { transport } = await seed();
      // e4 has no userId; String(undefined) must not equal the filter "undefined".
      await expect(transport.list({ userId: 'undefined' })).resolves.toEqual([]);
    });

    it('filters by since and until, both inclusive', async () => {
      const { transport, e1, e2, e3, e4 } = await seed();

      expect(ids(await transport.list({ since: new Date(T + 2000) }))).toEqual(ids([e2, e3, e4]));
      expect(ids(await transport.list({ since: new Date(T + 2001) }))).toEqual(ids([e3, e4]));
      expect(ids(await transport.list({ until: new Date(T + 2000) }))).toEqual(ids([e1, e2]));
      expect(ids(await transport.list({ until: new Date(T + 1999) }))).toEqual(ids([e1]));
      expect(ids(await transport.list({ since: new Date(T + 3000), until: new Date(T + 3000) }))).toEqual(ids([e3]));
      expect(ids(await transport.list({ since: new Date(T + 5000) }))).toEqual([]);
    });

    it('counts limit and offset back from the newest match, still ordering oldest first', async () => {
      const { transport, e1, e2, e3, e4 } = await seed();

      expect(ids(await transport.list({ limit: 2 }))).toEqual(ids([e3, e4]));
      expect(ids(await transport.list({ limit: 2, offset: 1 }))).toEqual(ids([e2, e3]));
      expect(ids(await transport.list({ offset: 3 }))).toEqual(ids([e1]));
      expect(ids(await transport.list({ offset: 4 }))).toEqual([]);
      expect(ids(await transport.list({ limit: 0 }))).toEqual([]);
      expect(ids(await transport.list({ limit: 10 }))).toEqual(ids([e1, e2, e3, e4]));
      expect(ids(await transport.list({ type: 'public.**', limit: 1, offset: 1 }))).toEqual(ids([e2]));
    });

    it('returns at most 100 events by default, the newest', async () => {
      const transport = newTransport();
      const events = Array.from({ length: 105 }, () => makeEvent());
      for (const event of events) await transport.publish(event);

      const listed = await transport.list();
      expect(listed).toHaveLength(100);
      expect(ids(listed)).toEqual(ids(events.slice(5)));
    });

    it('returns copies that cannot change the stored events', async () => {
      const { transport, e1 } = await seed();
      const [first] = await transport.list({ limit: 4 });
      first.status = 'failed';
      first.metadata.tampered = true;

      const again = await transport.get(e1.id);
      expect(again?.status).toBe('completed');
      expect(again?.metadata).toEqual({});
    });

    it.each([
      [{ limit: -1 }, /limit must be a non-negative integer, got -1/],
      [{ limit: 1.5 }, /limit must be a non-negative integer, got 1.5/],
      [{ offset: -2 }, /offset must be a non-negative integer, got -2/],
      [{ offset: 0.5 }, /offset must be a non-negative integer, got 0.5/],
      [{ type: 'public..users' }, /Invalid event pattern/],
      [{ type: 'public.**.create' }, /Invalid event pattern/],
      [{ type: '' }, /Invalid event pattern: must not be empty/],
    ])('rejects the invalid filter %o', async (filter, message) => {
      const transport = newTransport();
      await expect(transport.list(filter)).rejects.toThrow(message);
    });
  });

  describe('stream', () => {
    it('yields the matching events published after it started, in order', async () => {
      const transport = newTransport();
      await transport.publish(makeEvent('public.users.create'));
      const received: BrokerEvent[] = [];
      const stream = transport.stream('public.users.*');
      const reading = (async () => {
        for await (const event of stream) {
          received.push(event);
          if (received.length === 3) break;
        }
      })();

      const a = makeEvent('public.users.create');
      const b = makeEvent('public.orders.create');
      const c = makeEvent('public.users.update');
      const d = makeEvent('public.users.delete');
      for (const event of [a, b, c, d]) await transport.publish(event);
      await reading;

      expect(ids(received)).toEqual(ids([a, c, d]));
      expect(received.map((event) => event.type)).toEqual(['public.users.create', 'public.users.update', 'public.users.delete']);
      expect(received[0].status).toBe('completed');
    });

    it('unsubscribes when the reader breaks out of the loop', async () => {
      const transport = newTransport();
      const stream = transport.stream('**');
      const tails = (transport as unknown as { tails: Set<unknown> }).tails;
      expect(tails.size).toBe(1);
      const received: BrokerEvent[] = [];
      const reading = (async () => {
        for await (const event of stream) {
          received.push(event);
          break;
        }
      })();

      const first = makeEvent();
      await transport.publish(first);
      await reading;
      await transport.publish(makeEvent());

      expect(ids(received)).toEqual([first.id]);
      expect(tails.size).toBe(0);
      await expect(stream[Symbol.asyncIterator]().next()).resolves.toEqual({ value: undefined, done: true });
    });

    it('buffers events published while the reader is busy', async () => {
      const transport = newTransport();
      const iterator = transport.stream('public.**')[Symbol.asyncIterator]();
      const events = Array.from({ length: 3 }, () => makeEvent());
      for (const event of events) await transport.publish(event);

      const received: string[] = [];
      for (let index = 0; index < 3; index++) received.push(((await iterator.next()).value as BrokerEvent).id);
      expect(received).toEqual(ids(events));
      await iterator.return?.();
    });

    it('ends open streams on close and refuses new ones', async () => {
      const transport = newTransport();
      const received: BrokerEvent[] = [];
      let ended = false;
      const reading = (async () => {
        for await (const event of transport.stream('public.**')) received.push(event);
        ended = true;
      })();
      const event = makeEvent();
      await transport.publish(event);
      await flush();
      expect(ended).toBe(false);

      await transport.close();
      await reading;

      expect(ended).toBe(true);
      expect(ids(received)).toEqual([event.id]);
      expect(() => transport.stream('public.**')).toThrow(/MemoryTransport is closed/);
    });

    it('rejects an invalid pattern', () => {
      const transport = newTransport();
      expect(() => transport.stream('a..b')).toThrow(/Invalid event pattern/);
    });
  });

  describe('stats', () => {
    it('counts events, dead letters and per-group pending, in-flight and dead letters', async () => {
      useFakeClock();
      const transport = newTransport();
      await transport.connect();
      const g = await startConsumer(transport, 'g', ['public.**'], 1);
      const h = await startConsumer(transport, 'h', ['public.**']);
      await startConsumer(transport, 'idle', ['audit.*']);
      for (let index = 0; index < 3; index++) await transport.publish(makeEvent());
      await flush();

      await h.deliveries[0].ack();
      await h.deliveries[1].retry(1000, 'later');
      await h.deliveries[2].deadLetter('broken');

      expect(await transport.stats()).toEqual({
        type: 'memory',
        events: 3,
        deadLetters: 1,
        groups: {
          g: { pending: 2, inFlight: 1, deadLetters: 0 },
          h: { pending: 1, inFlight: 0, deadLetters: 1 },
          idle: { pending: 0, inFlight: 0, deadLetters: 0 },
        },
      });

      await vi.advanceTimersByTimeAsync(1000);
      await flush();
      const stats = await transport.stats();
      expect(stats.groups.h).toEqual({ pending: 0, inFlight: 1, deadLetters: 1 });
      expect(g.deliveries).toHaveLength(1);
    });
  });

  describe('drained and close', () => {
    it('resolves drained only once queued and retrying deliveries are all settled', async () => {
      useFakeClock();
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**'], 1);
      await transport.publish(makeEvent());
      await transport.publish(makeEvent());
      await flush();
      let drained = false;
      const draining = probe.consumer.drained().then(() => {
        drained = true;
      });

      await flush();
      expect(drained).toBe(false);

      await probe.deliveries[0].ack();
      await flush();
      expect(probe.deliveries).toHaveLength(2);
      expect(drained).toBe(false);

      await probe.deliveries[1].retry(1000, 'boom');
      await flush();
      expect(drained).toBe(false);

      await vi.advanceTimersByTimeAsync(1000);
      await flush();
      expect(probe.deliveries).toHaveLength(3);
      expect(drained).toBe(false);

      await probe.deliveries[2].ack();
      await flush();
      expect(drained).toBe(true);
      await draining;
    });

    it('resolves drained at once for an idle group', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      let drained = false;
      void probe.consumer.drained().then(() => {
        drained = true;
      });
      await flush();
      expect(drained).toBe(true);
    });

    it('refuses publish and every other write after close, saying the transport is closed', async () => {
      const transport = newTransport();
      await transport.close();

      await expect(transport.publish(makeEvent())).rejects.toThrow(BrokerStateError);
      await expect(transport.publish(makeEvent())).rejects.toThrow('MemoryTransport is closed');
      await expect(startConsumer(transport, 'g', ['public.**'])).rejects.toThrow(/closed/);
      await expect(transport.connect()).rejects.toThrow(/closed/);
      await expect(transport.replay('any')).rejects.toThrow(/closed/);
      await expect(transport.close()).resolves.toBeUndefined();
    });

    it('stops the consumers on close and clears pending retries', async () => {
      useFakeClock();
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**']);
      await transport.publish(makeEvent());
      await flush();
      await probe.deliveries[0].retry(1000, 'boom');
      expect(vi.getTimerCount()).toBe(1);

      await transport.close();

      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(2000);
      await flush();
      expect(probe.deliveries).toHaveLength(1);
      await expect(probe.consumer.close()).resolves.toBeUndefined();
      await expect(probe.consumer.drained()).resolves.toBeUndefined();
    });
  });
});
