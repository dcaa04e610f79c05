import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { eventually, type ConformanceContext } from './conformance-context.js';
import { ids, makeEvent } from './conformance-events.js';

/** `stream(pattern)`: the live tail of the events published from the moment it is opened. */
export function describeLiveTailContract(context: ConformanceContext): void {
  describe('live tail', () => {
    it("yields the matching events published after it was opened, in publish order (one key's), also those published while its reader was busy", async () => {
      const transport = await context.transport();
      await transport.publish(makeEvent('tail.users.create'));
      const tail = transport.stream('tail.users.*')[Symbol.asyncIterator]();

      const published = ['tail.users.create', 'tail.orders.create', 'tail.users.update', 'tail.users.delete'].map((type) =>
        makeEvent(type, { key: 'tail' }),
      );
      for (const event of published) await transport.publish(event);

      const received: BrokerEvent[] = [];
      for (let n = 0; n < 3; n++) received.push((await tail.next()).value as BrokerEvent);
      await tail.return?.();
      const [a, , c, d] = published;
      expect(ids(received)).toEqual(ids([a, c, d]));
      expect(received.map((event) => event.type)).toEqual(['tail.users.create', 'tail.users.update', 'tail.users.delete']);
      expect(received[0]).toMatchObject({ source: 'internal', instanceId: 'conformance', payload: { type: 'tail.users.create' } });
    });

    it('stops when its reader breaks out of the loop', async () => {
      const transport = await context.transport();
      const stream = transport.stream('**');
      const received: BrokerEvent[] = [];
      const reading = (async () => {
        for await (const event of stream) {
          received.push(event);
          break;
        }
      })();

      const first = makeEvent('tail.users.create');
      await transport.publish(first);
      await reading;
      await transport.publish(makeEvent('tail.users.create'));

      expect(ids(received)).toEqual([first.id]);
      await expect(stream[Symbol.asyncIterator]().next()).resolves.toEqual({ value: undefined, done: true });
    });

    it('ends the open tails when the transport closes', async () => {
      const transport = await context.transport();
      const received: BrokerEvent[] = [];
      const reading = (async () => {
        for await (const event of transport.stream('tail.**')) received.push(event);
      })();
      const event = makeEvent('tail.users.create');
      await transport.publish(event);
      await eventually(() => received.length > 0, 'the tail received the event');

      await transport.close();
      await reading;

      expect(ids(received)).toEqual([event.id]);
    });

    it('rejects an invalid pattern', async () => {
      const transport = await context.transport();
      expect(() => transport.stream('tail..users')).toThrow(/Invalid event pattern/);
    });
  });
}
