import { describe, expect, it } from 'vitest';
import { WAIT_MS, type ConformanceContext } from './conformance-context.js';
import { makeEvent } from './conformance-events.js';
import { consumeAs } from './test-consumer.js';

/** `stats()`: events held, dead letters, and per group what waits, what is handed out and what was dead-lettered. */
export function describeStatsContract(context: ConformanceContext): void {
  describe('stats', () => {
    it("counts events, dead letters and each group's pending, in-flight and dead letters", async () => {
      const transport = await context.transport();
      const busy = await consumeAs(transport, 'busy', ['stats.**'], 1);
      const settling = await consumeAs(transport, 'settling', ['stats.**'], 3);
      await consumeAs(transport, 'idle', ['other.*']);
      for (let n = 0; n < 3; n++) await transport.publish(makeEvent('stats.users.create'));
      await busy.received(1);
      const [acked, retried, deadLettered] = await settling.received(3);

      await acked.ack();
      await retried.retry(60_000, 'later');
      await deadLettered.deadLetter('broken');

      // A retry waiting for its delay is counted once: as pending where the transport keeps it
      // apart (memory, PostgreSQL), as in flight where the engine holds it for its consumer (Redis, NATS).
      const expected = {
        busy: { pending: 2, inFlight: 1, deadLetters: 0 },
        settling: { waiting: 1, deadLetters: 1 },
        idle: { pending: 0, inFlight: 0, deadLetters: 0 },
      };
      const observed = async (): Promise<Record<string, unknown>> => {
        const { groups } = await transport.stats();
        const settled = groups.settling;
        return {
          busy: groups.busy,
          idle: groups.idle,
          settling: { waiting: (settled?.pending ?? 0) + (settled?.inFlight ?? 0), deadLetters: settled?.deadLetters },
        };
      };
      await expect.poll(observed, { timeout: WAIT_MS, interval: 10 }).toEqual(expected);
      const stats = await transport.stats();
      expect(stats).toMatchObject({ type: transport.type, events: 3, deadLetters: 1 });
      expect(Object.keys(stats.groups).toSorted()).toEqual(['busy', 'idle', 'settling']);
    });
  });
}
