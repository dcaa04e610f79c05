import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { EventFilter } from '../../core/event-history.interface.js';
import type { EventTransport } from '../../core/event-transport.interface.js';
import { eventually, type ConformanceContext } from './conformance-context.js';
import { ids, makeEvent } from './conformance-events.js';
import { consumeAs } from './test-consumer.js';

interface History {
  transport: EventTransport;
  /** Oldest first, one second apart; completed, processing, pending, failed, completed. */
  events: [BrokerEvent, BrokerEvent, BrokerEvent, BrokerEvent, BrokerEvent];
}

/**
 * Five events, one second apart, in each status: e1 and e5 no group matches (completed), e2 is
 * handed out and not settled (processing), e3 waits for a group that takes nothing (pending), e4
 * was dead-lettered (failed).
 */
async function seedHistory(transport: EventTransport): Promise<History> {
  await consumeAs(transport, 'waiting', ['hist.orders.*'], 0);
  const holding = await consumeAs(transport, 'holding', ['hist.users.update']);
  const failing = await consumeAs(transport, 'failing', ['hist.audit.*']);
  const events = [
    makeEvent('hist.users.create', { source: 'database', instanceId: 'a', userId: 42 }),
    makeEvent('hist.users.update', { source: 'frontend', instanceId: 'b', userId: '42' }),
    makeEvent('hist.orders.create', { source: 'database', instanceId: 'b', userId: 7 }),
    makeEvent('hist.audit.login', { source: 'system', instanceId: 'a' }),
    makeEvent('hist.users.delete', { source: 'websocket', instanceId: 'c', userId: 'u-1' }),
  ] as History['events'];
  for (const event of events) await transport.publish(event);
  await holding.received(1);
  const [audit] = await failing.received(1);
  await audit.deadLetter('audit failed');
  const [e1, e2, e3, e4, e5] = events;
  const expected: [BrokerEvent, string][] = [
    [e1, 'completed'],
    [e2, 'processing'],
    [e3, 'pending'],
    [e4, 'failed'],
    [e5, 'completed'],
  ];
  await eventually(
    async () => {
      for (const [event, status] of expected) if ((await transport.get(event.id))?.status !== status) return false;
      return true;
    },
    'the seeded events in their statuses',
    async () => Promise.all(events.map(async (event) => (await transport.get(event.id))?.status)),
  );
  return { transport, events };
}

/** Each event's key by its id (`undefined` for one without a key). */
function keysById(events: readonly BrokerEvent[]): Record<string, string | undefined> {
  return Object.fromEntries(events.map((event) => [event.id, event.key]));
}

/** `deltaMs` after the event's `createdAt`. */
function at(event: BrokerEvent, deltaMs = 0): Date {
  return new Date(event.createdAt.getTime() + deltaMs);
}

/** The ids `list(filter)` returns, in its order. */
async function listed(transport: EventTransport, filter?: EventFilter): Promise<string[]> {
  return ids(await transport.list(filter));
}

/** get, list (every filter, the newest-first window, newest last), updateStatus and delete. */
export function describeHistoryContract(context: ConformanceContext): void {
  describe('history', () => {
    it('gets a published event with every field; an unknown id gives null', async () => {
      const transport = await context.transport();
      const event = makeEvent('public.users.create', {
        source: 'database',
        userId: 42,
        sessionId: 's-1',
        instanceId: 'api-1',
        payload: { user: { name: 'Ada' }, tags: ['a', 'b'] },
        metadata: { tenant: 'a', attempt: 2, beta: true },
      });

      await transport.publish(event);

      const stored = await transport.get(event.id);
      expect(stored).toMatchObject({
        id: event.id,
        type: 'public.users.create',
        source: 'database',
        userId: 42,
        sessionId: 's-1',
        instanceId: 'api-1',
        schema: 'public',
        entity: 'users',
        operation: 'create',
        payload: { user: { name: 'Ada' }, tags: ['a', 'b'] },
        metadata: { tenant: 'a', attempt: 2, beta: true },
        retryCount: 0,
      });
      expect(stored?.createdAt.getTime()).toBe(event.createdAt.getTime());
      await expect(transport.get('no-such-event')).resolves.toBeNull();
    });

    it("carries an event's key to its handler, get, list, the live tail and the dead letters; an event without one has none", async () => {
      const broker = context.broker({ retry: { maxRetries: 0 } });
      const handled: BrokerEvent[] = [];
      await broker.subscribe('keyed.orders.*', (event) => void handled.push(event), { group: 'keyed' });
      await broker.subscribe(
        'keyed.orders.*',
        () => {
          throw new Error('refused');
        },
        { group: 'refusing' },
      );
      await broker.start();
      const { transport } = broker;
      const tail = transport.stream('keyed.**')[Symbol.asyncIterator]();

      const keyed = await broker.publish({ type: 'keyed.orders.create', payload: { n: 1 }, key: 'order-42' });
      const unkeyed = await broker.publish({ type: 'keyed.orders.update', payload: { n: 2 } });

      await eventually(() => handled.length === 2, 'both events handled');
      await eventually(async () => (await transport.deadLetters({ group: 'refusing' })).length === 2, 'both events dead-lettered');
      const expected = { [keyed.id]: 'order-42', [unkeyed.id]: undefined };
      expect(keyed.key).toBe('order-42');
      expect(keysById(handled)).toEqual(expected);
      expect((await transport.get(keyed.id))?.key).toBe('order-42');
      expect(await transport.get(unkeyed.id)).not.toHaveProperty('key');
      expect(keysById(await transport.list({ type: 'keyed.**' }))).toEqual(expected);
      const tailed = [(await tail.next()).value as BrokerEvent, (await tail.next()).value as BrokerEvent];
      await tail.return?.();
      expect(keysById(tailed)).toEqual(expected);
      const letters = await transport.deadLetters({ group: 'refusing' });
      expect(keysById(letters.map((letter) => letter.event))).toEqual(expected);
    });

    it('keeps what it stored apart from the objects published and read', async () => {
      const transport = await context.transport();
      const event = makeEvent('copies.users.create', { payload: { user: { name: 'Ada' } }, metadata: { tenant: 'a' } });
      const createdAt = event.createdAt.getTime();
      await transport.publish(event);
      event.type = 'copies.users.delete';
      event.metadata.tenant = 'changed after publish';

      const read = (await transport.get(event.id)) as BrokerEvent<{ user: { name: string } }>;
      read.status = 'failed';
      read.error = 'changed after get';
      read.payload.user.name = 'changed after get';
      read.createdAt.setTime(0);
      const [fromList] = await transport.list({ type: 'copies.**' });
      fromList.metadata.tenant = 'changed after list';

      const again = await transport.get(event.id);
      expect(again).toMatchObject({ type: 'copies.users.create', status: 'completed', payload: { user: { name: 'Ada' } } });
      expect(again?.error).toBeUndefined();
      expect(again?.metadata).toEqual({ tenant: 'a' });
      expect(again?.createdAt.getTime()).toBe(createdAt);
      expect(await listed(transport, { until: new Date(1000) })).toEqual([]);
    });

    it('lists every event newest last, and filters by source, type pattern, status and instanceId, each alone and together', async () => {
      const { transport, events } = await seedHistory(await context.transport());
      const [e1, e2, e3, e4, e5] = events;

      expect(await listed(transport)).toEqual(ids(events));
      expect(await listed(transport, {})).toEqual(ids(events));
      expect(await listed(transport, { source: 'database' })).toEqual(ids([e1, e3]));
      expect(await listed(transport, { source: 'frontend' })).toEqual(ids([e2]));
      expect(await listed(transport, { source: 'internal' })).toEqual([]);
      expect(await listed(transport, { type: 'hist.users.*' })).toEqual(ids([e1, e2, e5]));
      expect(await listed(transport, { type: '*.*.create' })).toEqual(ids([e1, e3]));
      expect(await listed(transport, { type: 'hist.**' })).toEqual(ids(events));
      expect(await listed(transport, { type: 'hist.audit.login' })).toEqual(ids([e4]));
      expect(await listed(transport, { type: 'hist.*' })).toEqual([]);
      expect(await listed(transport, { type: '*' })).toEqual(ids(events));
      expect(await listed(transport, { status: 'completed' })).toEqual(ids([e1, e5]));
      expect(await listed(transport, { status: 'processing' })).toEqual(ids([e2]));
      expect(await listed(transport, { status: 'pending' })).toEqual(ids([e3]));
      expect(await listed(transport, { status: 'failed' })).toEqual(ids([e4]));
      expect(await listed(transport, { instanceId: 'b' })).toEqual(ids([e2, e3]));
      expect(await listed(transport, { instanceId: 'nobody' })).toEqual([]);
      expect(await listed(transport, { source: 'database', instanceId: 'a' })).toEqual(ids([e1]));
      expect(await listed(transport, { type: 'hist.users.*', status: 'completed', instanceId: 'c' })).toEqual(ids([e5]));
    });

    it('filters by userId (a number matching its string form and back; an event without one matches none) and by since and until, both inclusive', async () => {
      const { transport, events } = await seedHistory(await context.transport());
      const [e1, e2, e3, e4, e5] = events;

      expect(await listed(transport, { userId: 42 })).toEqual(ids([e1, e2]));
      expect(await listed(transport, { userId: '42' })).toEqual(ids([e1, e2]));
      expect(await listed(transport, { userId: 7 })).toEqual(ids([e3]));
      expect(await listed(transport, { userId: '7' })).toEqual(ids([e3]));
      expect(await listed(transport, { userId: 'u-1' })).toEqual(ids([e5]));
      expect(await listed(transport, { userId: 4 })).toEqual([]);
      expect(await listed(transport, { userId: 'undefined' })).toEqual([]);
      expect(await listed(transport, { userId: 42, source: 'frontend' })).toEqual(ids([e2]));

      expect(await listed(transport, { since: at(e2) })).toEqual(ids([e2, e3, e4, e5]));
      expect(await listed(transport, { since: at(e2, 1) })).toEqual(ids([e3, e4, e5]));
      expect(await listed(transport, { until: at(e2) })).toEqual(ids([e1, e2]));
      expect(await listed(transport, { until: at(e2, -1) })).toEqual(ids([e1]));
      expect(await listed(transport, { since: at(e3), until: at(e3) })).toEqual(ids([e3]));
      expect(await listed(transport, { since: at(e2), until: at(e4), type: 'hist.users.*' })).toEqual(ids([e2]));
      expect(await listed(transport, { since: at(e5, 1) })).toEqual([]);
    });

    it('counts limit and offset back from the newest match and still returns newest last', async () => {
      const { transport, events } = await seedHistory(await context.transport());
      const [e1, e2, e3, e4, e5] = events;

      expect(await listed(transport, { limit: 2 })).toEqual(ids([e4, e5]));
      expect(await listed(transport, { limit: 2, offset: 1 })).toEqual(ids([e3, e4]));
      expect(await listed(transport, { limit: 2, offset: 2 })).toEqual(ids([e2, e3]));
      expect(await listed(transport, { offset: 4 })).toEqual(ids([e1]));
      expect(await listed(transport, { offset: 5 })).toEqual([]);
      expect(await listed(transport, { limit: 0 })).toEqual([]);
      expect(await listed(transport, { limit: 10 })).toEqual(ids(events));
      expect(await listed(transport, { type: 'hist.users.*', limit: 1, offset: 1 })).toEqual(ids([e2]));
      expect(await listed(transport, { source: 'database', limit: 1 })).toEqual(ids([e3]));
    });

    it('lists at most the 100 newest events when no limit is given', async () => {
      const transport = await context.transport();
      const events = Array.from({ length: 105 }, () => makeEvent('many.rows.import'));
      await Promise.all(events.map((event) => transport.publish(event)));

      expect(await listed(transport)).toEqual(ids(events.slice(5)));
    });

    it('rejects an invalid filter, saying what is wrong with it', async () => {
      const transport = await context.transport();
      const cases: [EventFilter, RegExp][] = [
        [{ limit: -1 }, /limit must be a non-negative integer, got -1/],
        [{ limit: 1.5 }, /limit must be a non-negative integer, got 1.5/],
        [{ offset: -2 }, /offset must be a non-negative integer, got -2/],
        [{ offset: 0.5 }, /offset must be a non-negative integer, got 0.5/],
        [{ type: 'public..users' }, /Invalid event pattern/],
        [{ type: 'public.**.create' }, /Invalid event pattern/],
        [{ type: '' }, /Invalid event pattern: must not be empty/],
      ];
      for (const [filter, message] of cases) await expect(transport.list(filter)).rejects.toThrow(message);
    });

    it('updates the status and its details of a stored event; an unknown id is an error naming it', async () => {
      const transport = await context.transport();
      const event = makeEvent('status.users.create');
      await transport.publish(event);
      const processedAt = new Date(event.createdAt.getTime() + 5);

      await transport.updateStatus(event.id, 'failed', { error: 'set by hand', processedAt });

      const stored = await transport.get(event.id);
      expect(stored).toMatchObject({ status: 'failed', error: 'set by hand' });
      expect(stored?.processedAt?.getTime()).toBe(processedAt.getTime());
      expect(await listed(transport, { status: 'failed' })).toEqual([event.id]);
      await expect(transport.updateStatus('no-such-event', 'completed')).rejects.toThrow(
        'Cannot update the status of event no-such-event: no such event in the history',
      );
    });

    it('deletes an event: true once, then false, and it is gone from get and list', async () => {
      const transport = await context.transport();
      const kept = makeEvent('delete.users.create');
      const deleted = makeEvent('delete.users.create');
      await transport.publish(kept);
      await transport.publish(deleted);

      await expect(transport.delete(deleted.id)).resolves.toBe(true);
      await expect(transport.get(deleted.id)).resolves.toBeNull();
      await expect(transport.delete(deleted.id)).resolves.toBe(false);
      await expect(transport.delete('never-stored')).resolves.toBe(false);
      expect(await listed(transport)).toEqual([kept.id]);
      expect((await transport.stats()).events).toBe(1);
    });

    it('stores an event published again with the same id once', async () => {
      const transport = await context.transport();
      const probe = await consumeAs(transport, 'g', ['again.**']);
      const event = makeEvent('again.users.create');
      await transport.publish(event);
      const [first] = await probe.received(1);
      await first.ack();
      await eventually(async () => (await transport.get(event.id))?.status === 'completed', 'the event completed');

      await transport.publish(event);

      expect(await listed(transport)).toEqual([event.id]);
      expect((await transport.get(event.id))?.status).toBe('completed');
      expect((await transport.stats()).groups.g).toEqual({ pending: 0, inFlight: 0, deadLetters: 0 });
      expect(probe.deliveries).toHaveLength(1);
    });
  });
}
