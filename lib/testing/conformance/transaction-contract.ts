import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { createEvent } from '../../core/create-event.js';
import { eventually, pause, QUIET_MS, required, type ConformanceContext } from './conformance-context.js';

/** `publish(event, { tx })`: in the caller's transaction where the transport takes one, refused where it does not. */
export function describeTransactionContract(context: ConformanceContext): void {
  describe('transactions', () => {
    // One of the two is registered, by the feature, rather than one reported as skipped.
    // oxlint-disable-next-line vitest/no-conditional-tests
    if (context.features.transactional) {
      it('delivers and stores an event published in a transaction once it commits, never when it rolls back', async () => {
        const broker = context.broker();
        const handled: BrokerEvent[] = [];
        await broker.subscribe('tx.orders.*', (event) => void handled.push(event), { group: 'billing' });
        await broker.start();
        const begin = required(context.fixture().beginTransaction, 'transactional', 'beginTransaction');

        const committing = await begin();
        const committed = await broker.publish(createEvent({ type: 'tx.orders.create', payload: { n: 1 } }), { tx: committing.client });
        await pause(QUIET_MS);
        expect(handled).toEqual([]);
        expect(await broker.transport.get(committed.id)).toBeNull();
        await committing.commit();
        await eventually(() => handled.length > 0, 'the committed event handled');
        expect(handled.map((event) => event.id)).toEqual([committed.id]);
        await eventually(async () => (await broker.transport.get(committed.id))?.status === 'completed', 'the committed event completed');

        const rollingBack = await begin();
        const rolledBack = await broker.publish(createEvent({ type: 'tx.orders.create', payload: { n: 2 } }), { tx: rollingBack.client });
        await rollingBack.rollback();
        await pause(QUIET_MS);
        expect(handled.map((event) => event.id)).toEqual([committed.id]);
        expect(await broker.transport.get(rolledBack.id)).toBeNull();
      });

      it('refuses a publish inside a transaction once closed, and writes nothing in it', async () => {
        const transport = await context.transport();
        await transport.close();
        const begin = required(context.fixture().beginTransaction, 'transactional', 'beginTransaction');
        const transaction = await begin();
        const statements: string[] = [];
        const tx = {
          query: (text: string, values?: unknown[]) => {
            statements.push(text);
            return transaction.client.query(text, values);
          },
        };
        try {
          await expect(transport.publish(createEvent({ type: 'tx.orders.create', payload: {} }), { tx })).rejects.toThrow(/closed/);
          expect(statements).toEqual([]);
        } finally {
          await transaction.rollback();
        }
      });
    } else {
      it('refuses a publish inside a database transaction, naming the transport', async () => {
        const broker = context.broker();
        await broker.start();
        const tx = { query: async () => undefined };
        await expect(broker.publish(createEvent({ type: 'tx.orders.create', payload: {} }), { tx })).rejects.toThrow(
          `inside a database transaction: the ${broker.transport.type} transport does not take one`,
        );
      });
    }
  });
}
