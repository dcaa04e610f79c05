import { expect, it } from 'vitest';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { eventually, pause, QUIET_MS, required, type ConformanceContext } from './conformance-context.js';
import { makeEvent } from './conformance-events.js';

/** What other programs write where the transport reads: their events are delivered and listed; an unreadable message is dead-lettered. */
export function describeWireContract(context: ConformanceContext): void {
  const { features } = context;
  // Registered only where they apply, rather than reported as skipped.
  // oxlint-disable-next-line vitest/no-conditional-tests
  if (features.foreignProducers) {
    it('delivers an event another program wrote, once', async () => {
      const broker = context.broker();
      const seen: BrokerEvent[] = [];
      await broker.subscribe('billing.invoices.*', (event) => void seen.push(event), { group: 'billing' });
      await broker.start();

      const writeForeign = required(context.fixture().writeForeign, 'foreignProducers', 'writeForeign');
      await writeForeign({ id: 'invoice-1', source: 'system', type: 'billing.invoices.create', data: { total: 12.5 }, userid: 'u-1' });

      await eventually(() => seen.length > 0, 'the foreign event handled');
      expect(seen[0]).toMatchObject({
        id: 'invoice-1',
        source: 'system',
        type: 'billing.invoices.create',
        payload: { total: 12.5 },
        userId: 'u-1',
        entity: 'invoices',
      });
      expect(seen).toHaveLength(1);
    });

    it('keeps events another program wrote in the history, with their status', async () => {
      const broker = context.broker();
      let failing = true;
      await broker.subscribe('billing.invoices.*', () => undefined, { group: 'billing' });
      await broker.subscribe(
        'billing.refunds.*',
        () => {
          if (failing) throw new Error('refunds are closed');
        },
        { group: 'refunds', retry: { maxRetries: 0 } },
      );
      await broker.start();

      const writeForeign = required(context.fixture().writeForeign, 'foreignProducers', 'writeForeign');
      await writeForeign({ id: 'invoice-2', source: 'system', type: 'billing.invoices.create', data: { total: 3 }, userid: 'u-2' });
      await writeForeign({ id: 'refund-1', source: 'system', type: 'billing.refunds.create', data: { total: 1 } });

      const { transport } = broker;
      await eventually(async () => (await transport.get('invoice-2'))?.status === 'completed', 'the foreign invoice completed');
      await eventually(async () => (await transport.get('refund-1'))?.status === 'failed', 'the foreign refund failed');
      expect(await transport.get('invoice-2')).toMatchObject({
        id: 'invoice-2',
        type: 'billing.invoices.create',
        payload: { total: 3 },
        userId: 'u-2',
        completedAt: expect.any(Date),
      });
      expect(await transport.get('refund-1')).toMatchObject({ status: 'failed', error: 'refunds are closed' });
      const listed = await transport.list({ type: 'billing.**' });
      expect(listed.map((event) => [event.id, event.status])).toEqual([
        ['invoice-2', 'completed'],
        ['refund-1', 'failed'],
      ]);
      expect((await transport.list({ userId: 'u-2' })).map((event) => event.id)).toEqual(['invoice-2']);

      failing = false;
      const [deadLetter] = await transport.deadLetters({ group: 'refunds' });
      expect(deadLetter.event.id).toBe('refund-1');
      await transport.replay(deadLetter.id);
      await eventually(async () => (await transport.get('refund-1'))?.status === 'completed', 'the replayed foreign refund completed');
    });
  }

  // oxlint-disable-next-line vitest/no-conditional-tests
  if (features.malformedMessages) {
    it('dead-letters a malformed message found on the wire and keeps consuming', async () => {
      const broker = context.broker();
      const handled: string[] = [];
      await broker.subscribe('**', (event) => void handled.push(event.id), { group: 'wire-reader' });
      await broker.start();

      const writeMalformed = required(context.fixture().writeMalformed, 'malformedMessages', 'writeMalformed');
      await writeMalformed('{"specversion":"1.0","id":"not-json-at-all');

      await eventually(
        async () => (await broker.transport.deadLetters({ group: 'wire-reader' })).length > 0,
        'malformed message dead-lettered',
      );
      const [deadLetter, ...others] = await broker.transport.deadLetters({ group: 'wire-reader' });
      expect(others).toEqual([]);
      expect(deadLetter.group).toBe('wire-reader');
      expect(deadLetter.error).toMatch(/json|pars|malformed|unexpected|invalid/i);

      const valid = await broker.publish(makeEvent('wire.orders.create'));
      await eventually(
        () => handled.includes(valid.id),
        'a valid event published afterwards handled',
        () => ({ handled }),
      );
      await pause(QUIET_MS);
      expect(handled).toEqual([valid.id]);
    });
  }
}
