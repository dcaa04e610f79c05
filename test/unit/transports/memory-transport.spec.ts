import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BrokerEvent, EventSource, EventStatus } from '../../../lib/core/broker-event.interface.js';
import { createEvent, type CreateEventInput } from '../../../lib/core/create-event.js';
import { EventBrokerError } from '../../../lib/core/event-broker.errors.js';
import type { Consumer, Delivery, FlowControl } from '../../../lib/core/event-transport.interface.js';
import type { EventFilter } from '../../../lib/core/event-history.interface.js';
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

async function startConsumer(
  transport: MemoryTransport,
  group: string,
  patterns: string[],
  limit = Infinity,
  ordered = false,
): Promise<Probe> {
  const flow = new TestFlow(limit);
  const deliveries: Delivery[] = [];
  const settled = new Set<Delivery>();
  const consumer = await transport.consume(
    { group, patterns, consumerName: 'test-consumer', ordered },
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

// What every transport promises is checked by the conformance suite (test/conformance); here is what
// only the memory transport does: groups that live while consumed, flow control in process, bounds
// on history and dead letters, retries on its own timers.
describe('MemoryTransport', () => {
  describe('routing', () => {
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

  describe('hand-over', () => {
    it('hands a first delivery straight to a consumer with room, the consumers of a group taking turns', async () => {
      const transport = newTransport();
      const first = await startConsumer(transport, 'g', ['public.**']);
      const second = await startConsumer(transport, 'g', ['public.**']);
      const events = [makeEvent(), makeEvent(), makeEvent(), makeEvent()];

      for (const event of events) await transport.publish(event);

      expect(eventIds(first.deliveries)).toEqual([events[0].id, events[2].id]);
      expect(eventIds(second.deliveries)).toEqual([events[1].id, events[3].id]);
    });

    it('queues behind deliveries already waiting, so that a group gets its events in publish order', async () => {
      const transport = newTransport();
      const probe = await startConsumer(transport, 'g', ['public.**'], 0);
      const events = [makeEvent(), makeEvent(), makeEvent()];
      await transport.publish(events[0]);
      probe.flow.setLimit(10);
      for (const event of events.slice(1)) await transport.publish(event);
      await flush();

      expect(eventIds(probe.deliveries)).toEqual(ids(events));
    });
  });

  describe('copies', () => {
    it('gives every group and every reader a copy of its own: what one changes, no other sees', async () => {
      const transport = newTransport();
      const audit = await startConsumer(transport, 'audit', ['public.**']);
      const mailer = await startConsumer(transport, 'mailer', ['public.**']);
      const event = makeEvent('public.users.create', { payload: { user: { name: 'Ada', tags: ['a'] } }, metadata: { tenant: 'a' } });
      const createdAt = event.createdAt.getTime();
      await transport.publish(event);
      const published = event as BrokerEvent<{ user: { name: string; tags: string[] } }>;
      published.payload.user.name = 'changed by the publisher';

      const changed = audit.deliveries[0].event as BrokerEvent<{ user: { name: string; tags: string[] } }>;
      changed.payload.user.name = 'changed by audit';
      changed.payload.user.tags.push('b');
      changed.metadata.tenant = 'changed by audit';
      changed.createdAt.setTime(0);
      const read = (await transport.get(event.id)) as BrokerEvent<{ user: { name: string } }>;
      read.payload.user.name = 'changed by a reader';

      const original = { payload: { user: { name: 'Ada', tags: ['a'] } }, metadata: { tenant: 'a' } };
      expect(mailer.deliveries[0].event).toMatchObject(original);
      expect(mailer.deliveries[0].event.createdAt.getTime()).toBe(createdAt);
      expect(await transport.get(event.id)).toMatchObject(original);
      expect((await transport.list())[0]).toMatchObject(original);
    });

    it('hands a delivery the event as published, without what another group made of it', async () => {
      const transport = newTransport();
      const audit = await startConsumer(transport, 'audit', ['public.**']);
      const mailer: Delivery[] = [];
      await transport.consume(
        { group: 'mailer', patterns: ['public.**'], consumerName: 'raw' },
        (delivery) => mailer.push(delivery),
        new TestFlow(10),
      );
      const event = makeEvent();
      await transport.publish(event);

      await audit.deliveries[0].deadLetter('audit failed');

      expect((await transport.get(event.id))?.error).toBe('audit failed');
      const delivered = mailer[0].event;
      expect(delivered).toMatchObject({ id: event.id, status: 'processing', retryCount: 0 });
      expect(delivered.error).toBeUndefined();
      expect(delivered.completedAt).toBeUndefined();
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

  describe('ordered groups', () => {
    it("parks a key's later deliveries while one is out, counting them as pending and towards maxQueued", async () => {
      const transport = newTransport({ maxQueued: 3 });
      const probe = await startConsumer(transport, 'g', ['public.**'], Infinity, true);
      const [a1, a2, a3, a4] = [1, 2, 3, 4].map(() => makeEvent('public.orders.update', { key: 'a' }));
      const b1 = makeEvent('public.orders.update', { key: 'b' });
      for (const event of [a1, a2, b1, a3, a4]) await transport.publish(event);
      await flush();
      expect(eventIds(probe.deliveries)).toEqual(ids([a1, b1]));
      expect((await transport.stats()).groups.g).toEqual({ pending: 3, inFlight: 2, deadLetters: 0 });

      const a5 = makeEvent('public.orders.update', { key: 'a' });
      let accepted = false;
      const publishing = transport.publish(a5).then(() => {
        accepted = true;
      });
      await flush();
      expect(accepted).toBe(false);

      await probe.deliveries[0].ack();
      await publishing;
      await flush();
      expect(eventIds(probe.deliveries)).toEqual(ids([a1, b1, a2]));
      expect((await transport.stats()).groups.g).toEqual({ pending: 3, inFlight: 2, deadLetters: 0 });
    });

    it('refuses a consumer that orders a group otherwise than its open consumers; once they closed, queues what was parked', async () => {
      const transport = newTransport();
      const ordered = await startConsumer(transport, 'g', ['public.**'], Infinity, true);
      const [a1, a2] = [1, 2].map(() => makeEvent('public.orders.update', { key: 'a' }));
      for (const event of [a1, a2]) await transport.publish(event);
      await flush();
      await expect(startConsumer(transport, 'g', ['public.**'])).rejects.toThrow(
        new EventBrokerError(
          'Group g is consumed ordered; a consumer of the same group cannot consume it unordered (give every consumer of a group the same ordered option)',
        ),
      );

      await ordered.consumer.close();
      const unordered = await startConsumer(transport, 'g', ['public.**']);
      await flush();
      expect(eventIds(unordered.deliveries)).toEqual(ids([a2]));
      expect(eventIds(ordered.open())).toEqual(ids([a1]));
    });
  });

  describe('a group that becomes ordered', () => {
    it("splits its queue into turns: the first of each key goes, the key's later ones wait for it", async () => {
      const transport = newTransport();
      const unordered = await startConsumer(transport, 'g', ['public.**'], 0);
      const [a1, a2, b1, a3] = ['a', 'a', 'b', 'a'].map((key) => makeEvent('public.orders.update', { key }));
      for (const event of [a1, a2, b1, a3]) await transport.publish(event);
      await unordered.consumer.close();

      const ordered = await startConsumer(transport, 'g', ['public.**'], Infinity, true);
      await flush();
      expect(eventIds(ordered.deliveries)).toEqual(ids([a1, b1]));
      expect((await transport.stats()).groups.g).toEqual({ pending: 2, inFlight: 2, deadLetters: 0 });
      await ordered.deliveries[0].ack();
      await flush();
      expect(eventIds(ordered.deliveries)).toEqual(ids([a1, b1, a2]));
      await ordered.deliveries[2].ack();
      await flush();
      expect(eventIds(ordered.deliveries)).toEqual(ids([a1, b1, a2, a3]));
    });

    it('is refused while deliveries of the group are in flight or waiting for a retry, saying so', async () => {
      useFakeClock();
      const transport = newTransport();
      const unordered = await startConsumer(transport, 'g', ['public.**']);
      const [a1, a2] = [1, 2].map(() => makeEvent('public.orders.update', { key: 'a' }));
      for (const event of [a1, a2]) await transport.publish(event);
      await flush();
      await unordered.consumer.close();
      await unordered.deliveries[1].retry(1000, 'boom');
      await expect(startConsumer(transport, 'g', ['public.**'], Infinity, true)).rejects.toThrow(
        new EventBrokerError(
          'Group g cannot become ordered while 2 of its deliveries are in flight or waiting for a retry; ' +
            'start its ordered consumers once the unordered ones have settled what they took',
        ),
      );

      await unordered.deliveries[0].ack();
      await vi.advanceTimersByTimeAsync(1000);
      const ordered = await startConsumer(transport, 'g', ['public.**'], Infinity, true);
      await flush();
      expect(ordered.deliveries.map((delivery) => [delivery.event.id, delivery.attempt])).toEqual([[a2.id, 2]]);
    });

    it("lets a delivery that holds no turn (one the publisher claimed) settle without ending its key's turn", async () => {
      const transport = newTransport();
      const ordered = await startConsumer(transport, 'g', ['public.**'], Infinity, true);
      const [a1, a2, a3] = [1, 2, 3].map(() => makeEvent('public.orders.update', { key: 'a' }));
      for (const event of [a1, a2]) await transport.publish(event);
      const [claimed] = await transport.publish(a3, { claimGroups: ['g'] });
      await claimed.ack();
      await flush();
      expect(eventIds(ordered.deliveries)).toEqual(ids([a1]));
      await ordered.deliveries[0].ack();
      await flush();
      expect(eventIds(ordered.deliveries)).toEqual(ids([a1, a2]));
    });
  });

  describe('settling deliveries', () => {
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

    it('keeps the newest maxEvents events when events were deleted or the history emptied in between', async () => {
      const transport = newTransport({ maxEvents: 2 });
      await transport.connect();
      const first = Array.from({ length: 3 }, () => makeEvent());
      for (const event of first) await transport.publish(event);
      for (const event of first.slice(1)) await transport.delete(event.id);
      expect(ids(await transport.list())).toEqual([]);
      const second = Array.from({ length: 3 }, () => makeEvent());
      await transport.publish(second[0]);
      await transport.delete(second[0].id);
      for (const event of second.slice(1)) await transport.publish(event);
      const third = Array.from({ length: 3 }, () => makeEvent());
      for (const event of third) await transport.publish(event);

      expect(ids(await transport.list())).toEqual(ids(third.slice(1)));
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

  describe('stream', () => {
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
