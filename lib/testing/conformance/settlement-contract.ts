import { describe, expect, it } from 'vitest';
import { eventually, pause, QUIET_MS, type ConformanceContext } from './conformance-context.js';
import { ids, makeEvent } from './conformance-events.js';
import { consumeAs, type TestConsumer } from './test-consumer.js';

function typesOf(consumer: TestConsumer): string[] {
  return consumer.deliveries.map((delivery) => delivery.event.type);
}

/** Routing and settling at the transport's interface: what one delivery is, and what ack, retry and dead-letter do to the event. */
export function describeSettlementContract(context: ConformanceContext): void {
  describe('routing and settling deliveries', () => {
    it('routes by pattern: `*` is one segment, a trailing `**` one or more, and a group with several matching patterns gets an event once', async () => {
      const transport = await context.transport();
      const oneSegment = await consumeAs(transport, 'one-segment', ['route.*.create']);
      const deep = await consumeAs(transport, 'deep', ['route.**']);
      const several = await consumeAs(transport, 'several', ['route.users.create', 'route.orders.*', 'route.**']);
      const everything = await consumeAs(transport, 'everything', ['*']);
      const published = ['route.users.create', 'route.users.update', 'route.orders.items.create', 'route', 'other.users.create'];

      // One key: the order each group gets them in is the order they were published in.
      for (const type of published) await transport.publish(makeEvent(type, { key: 'route' }));

      await everything.received(5);
      await deep.received(3);
      await several.received(3);
      await oneSegment.received(1);
      await pause(QUIET_MS);
      expect(typesOf(oneSegment)).toEqual(['route.users.create']);
      expect(typesOf(deep)).toEqual(['route.users.create', 'route.users.update', 'route.orders.items.create']);
      expect(typesOf(several)).toEqual(['route.users.create', 'route.users.update', 'route.orders.items.create']);
      expect(typesOf(everything)).toEqual(published);
    });

    it('refuses a consumer with an invalid pattern', async () => {
      const transport = await context.transport();
      await expect(consumeAs(transport, 'g', ['route..users'])).rejects.toThrow(/Invalid event pattern/);
      await expect(consumeAs(transport, 'h', ['route.**.create'])).rejects.toThrow(/"\*\*" is only allowed as the last segment/);
    });

    it('hands each group its own copy of the event as a first attempt, processing', async () => {
      const transport = await context.transport();
      const audit = await consumeAs(transport, 'audit', ['copy.**']);
      const mailer = await consumeAs(transport, 'mailer', ['copy.**']);
      const event = makeEvent('copy.users.create', { userId: 42, metadata: { tenant: 'a' } });

      await expect(transport.publish(event)).resolves.toEqual([]);

      const [forAudit] = await audit.received(1);
      const [forMailer] = await mailer.received(1);
      for (const [delivery, group] of [
        [forAudit, 'audit'],
        [forMailer, 'mailer'],
      ] as const) {
        expect(delivery.group).toBe(group);
        expect(delivery.attempt).toBe(1);
        expect(delivery.event).toMatchObject({ id: event.id, type: 'copy.users.create', userId: 42, status: 'processing', retryCount: 0 });
        expect(delivery.event.metadata).toEqual({ tenant: 'a' });
      }
      forAudit.event.metadata.tenant = 'changed by audit';
      expect(forMailer.event.metadata).toEqual({ tenant: 'a' });
    });

    it('completes an event that no group matches at once', async () => {
      const transport = await context.transport();
      await consumeAs(transport, 'elsewhere', ['unmatched.other.*']);
      const event = makeEvent('unmatched.users.create');

      await transport.publish(event);

      await eventually(async () => (await transport.get(event.id))?.status === 'completed', 'the unrouted event completed');
      expect((await transport.get(event.id))?.completedAt).toBeInstanceOf(Date);
    });

    it('completes an event once every group it was routed to acked: pending, then processing, then completed', async () => {
      const transport = await context.transport();
      const a = await consumeAs(transport, 'a', ['settle.**'], 0);
      const b = await consumeAs(transport, 'b', ['settle.**'], 0);
      const event = makeEvent('settle.users.create');
      await transport.publish(event);

      const pending = await transport.get(event.id);
      expect(pending?.status).toBe('pending');
      expect(pending?.processedAt).toBeUndefined();

      a.setCapacity(1);
      b.setCapacity(1);
      const [fromA] = await a.received(1);
      const [fromB] = await b.received(1);
      await eventually(async () => (await transport.get(event.id))?.status === 'processing', 'the event processing');
      const processing = await transport.get(event.id);
      expect(processing?.processedAt).toBeInstanceOf(Date);
      expect(processing?.completedAt).toBeUndefined();

      await fromA.ack();
      const half = await transport.get(event.id);
      expect(half?.status).toBe('processing');
      expect(half?.completedAt).toBeUndefined();

      await fromB.ack();
      await eventually(async () => (await transport.get(event.id))?.status === 'completed', 'the event completed');
      const done = await transport.get(event.id);
      expect(done?.completedAt).toBeInstanceOf(Date);
      expect(done?.completedAt?.getTime()).toBeGreaterThanOrEqual(done?.processedAt?.getTime() ?? Infinity);
      expect(done?.error).toBeUndefined();
    });

    it('redelivers a retried delivery after its delay as the next attempt, and completes it on ack', async () => {
      const transport = await context.transport();
      const probe = await consumeAs(transport, 'g', ['retry.**']);
      const event = makeEvent('retry.users.create');
      await transport.publish(event);

      const [first] = await probe.received(1);
      expect(first).toMatchObject({ attempt: 1, event: { retryCount: 0 } });
      await first.retry(20, 'boom');
      const [, second] = await probe.received(2);
      expect(second.group).toBe('g');
      expect(second.attempt).toBe(2);
      expect(second.event).toMatchObject({ id: event.id, status: 'processing', retryCount: 1 });
      await eventually(async () => (await transport.get(event.id))?.status === 'processing', 'the redelivered event processing');

      await second.retry(10, 'boom again');
      const [, , third] = await probe.received(3);
      expect(third).toMatchObject({ attempt: 3, event: { retryCount: 2 } });
      await third.ack();

      await eventually(async () => (await transport.get(event.id))?.status === 'completed', 'the event completed');
      expect(probe.deliveries).toHaveLength(3);
    });

    it('keeps an event failed when another group acks it after one dead-lettered it', async () => {
      const transport = await context.transport();
      const a = await consumeAs(transport, 'a', ['mixed.**']);
      const b = await consumeAs(transport, 'b', ['mixed.**']);
      const event = makeEvent('mixed.users.create');
      await transport.publish(event);
      const [fromA] = await a.received(1);
      const [fromB] = await b.received(1);

      await fromA.deadLetter('a failed');
      await fromB.ack();

      await eventually(async () => (await transport.get(event.id))?.status === 'failed', 'the event failed');
      const stored = await transport.get(event.id);
      expect(stored).toMatchObject({ status: 'failed', error: 'a failed' });
      expect(stored?.completedAt).toBeUndefined();
    });

    it('refuses to settle a delivery again, whichever way it was settled first, and changes nothing', async () => {
      const transport = await context.transport();
      const probe = await consumeAs(transport, 'g', ['twice.**']);
      const pairs = [
        ['ack', 'ack'],
        ['ack', 'retry'],
        ['retry', 'ack'],
        ['deadLetter', 'ack'],
        ['ack', 'deadLetter'],
      ] as const;
      for (let n = 0; n < pairs.length; n++) await transport.publish(makeEvent('twice.users.create'));
      const deliveries = await probe.received(pairs.length);

      for (const [index, [first, second]] of pairs.entries()) {
        const delivery = deliveries[index];
        const settle = (how: 'ack' | 'retry' | 'deadLetter'): Promise<void> =>
          how === 'ack' ? delivery.ack() : how === 'retry' ? delivery.retry(60_000, 'boom') : delivery.deadLetter('boom');
        await settle(first);
        const before = (await transport.stats()).groups.g;
        await expect(settle(second)).rejects.toThrow(/already settled/);
        expect((await transport.stats()).groups.g).toEqual(before);
      }
    });

    it("returns the deliveries of claimed groups from publish, and hands them to none of those groups' consumers", async () => {
      const transport = await context.transport();
      const claimed = await consumeAs(transport, 'claimed', ['claim.**']);
      const other = await consumeAs(transport, 'other', ['claim.**']);
      const event = makeEvent('claim.users.create');

      const deliveries = await transport.publish(event, { claimGroups: ['claimed', 'inline-only'] });

      expect(deliveries.map((delivery) => delivery.group).toSorted()).toEqual(['claimed', 'inline-only']);
      for (const delivery of deliveries) {
        expect(delivery.attempt).toBe(1);
        expect(delivery.event).toMatchObject({ id: event.id, status: 'processing', retryCount: 0 });
      }
      const [forOther] = await other.received(1);
      expect(ids([forOther.event])).toEqual([event.id]);

      for (const delivery of deliveries) await delivery.ack();
      expect((await transport.get(event.id))?.status).not.toBe('completed');
      await forOther.ack();
      await eventually(async () => (await transport.get(event.id))?.status === 'completed', 'the event completed');
      await pause(QUIET_MS);
      expect(claimed.deliveries).toEqual([]);
    });
  });
}
