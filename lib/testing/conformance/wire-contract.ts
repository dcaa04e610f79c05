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
