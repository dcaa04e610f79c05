import { describe, expect, it } from 'vitest';
import { BrokerStateError } from '../../core/event-broker.errors.js';
import { eventually, silentLogger, type ConformanceContext } from './conformance-context.js';
import { makeEvent } from './conformance-events.js';
import { consumeAs } from './test-consumer.js';

/** What the transport declares, what survives it (when durable), and what it refuses once closed. */
export function describeLifecycleContract(context: ConformanceContext): void {
  describe('lifecycle', () => {
    it('declares durable, transactional and ordered groups as its features say', async () => {
      const transport = await context.transport();
      expect({
        durable: transport.durable,
        transactional: transport.transactional,
        orderedGroups: transport.orderedGroups ?? false,
      }).toEqual({
        durable: context.features.durable,
        transactional: context.features.transactional,
        orderedGroups: context.features.orderedGroups ?? false,
      });
      expect(typeof transport.type).toBe('string');
      expect((await transport.stats()).type).toBe(transport.type);
    });

    // oxlint-disable-next-line vitest/no-conditional-tests
    if (context.features.durable) {
      it("keeps a group's place while none of its consumers runs, across transport objects", async () => {
        const registering = await context.transport();
        const first = await consumeAs(registering, 'billing', ['durable.orders.*'], 0);
        await first.consumer.close();
        await registering.close();

        const publishing = await context.transport();
        const event = makeEvent('durable.orders.create');
        await publishing.publish(event);
        await publishing.close();

        const resuming = await context.transport();
        expect(await resuming.get(event.id)).toMatchObject({ id: event.id, status: 'pending' });
        const resumed = await consumeAs(resuming, 'billing', ['durable.orders.*']);
        const [delivery] = await resumed.received(1);
        expect(delivery.event.id).toBe(event.id);
        await delivery.ack();
        await eventually(async () => (await resuming.get(event.id))?.status === 'completed', 'the event completed');
      });
    }

    it('refuses publish, consume, replay and stream once closed, saying so; closing again is harmless', async () => {
      const transport = await context.transport();
      await transport.close();

      const refusal = await transport.publish(makeEvent('closed.users.create')).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(BrokerStateError);
      expect((refusal as Error).message).toMatch(/closed/);
      await expect(consumeAs(transport, 'g', ['closed.**'])).rejects.toThrow(/closed/);
      await expect(transport.replay('any')).rejects.toThrow(/closed/);
      expect(() => transport.stream('closed.**')).toThrow(/closed/);
      await expect(transport.connect({ logger: silentLogger })).rejects.toThrow(/closed/);
      await expect(transport.close()).resolves.toBeUndefined();
    });
  });
}
