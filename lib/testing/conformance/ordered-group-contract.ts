import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { EventBroker } from '../../core/event-broker.js';
import { eventually, pause, QUIET_MS, type ConformanceContext } from './conformance-context.js';

interface Step {
  key: string;
  n: number;
}

/** What an ordered group's handlers did, in the order they did it. */
class OrderLog {
  readonly lines: string[] = [];
  private readonly running = new Set<string>();
  /** Keys a handler started on while another handler of the same key was running. */
  readonly overlaps: string[] = [];
  mostKeysAtOnce = 0;

  started(key: string, line: string): void {
    if (this.running.has(key)) this.overlaps.push(key);
    this.running.add(key);
    this.mostKeysAtOnce = Math.max(this.mostKeysAtOnce, this.running.size);
    this.lines.push(line);
  }

  finished(key: string, line?: string): void {
    this.running.delete(key);
    if (line !== undefined) this.lines.push(line);
  }

  indexOf(line: string): number {
    const index = this.lines.indexOf(line);
    if (index < 0) throw new Error(`Never logged: ${line}; logged: ${this.lines.join(', ')}`);
    return index;
  }
}

const ORDERED = 'ordered.orders.update';

function publishStep(broker: EventBroker, { key, n }: Step): Promise<BrokerEvent> {
  return broker.publish({ type: ORDERED, payload: { key, n }, key });
}

/** `ordered: true`: one key's events one at a time, in publish order, across the group's instances; a failing one holds its key back. */
export function describeOrderedGroupContract(context: ConformanceContext): void {
  describe('ordered groups', () => {
    // Registered only where they apply, rather than reported as skipped.
    // oxlint-disable-next-line vitest/no-conditional-tests
    if (context.features.orderedGroups) {
      it('hands the events of one key to the group one at a time, in publish order, across its instances; different keys run in parallel', async () => {
        const brokers = [context.broker(), context.broker()];
        const log = new OrderLog();
        const handled = new Map<string, number[]>();
        const byInstance = [0, 0];
        for (const [instance, broker] of brokers.entries()) {
          await broker.subscribe<Step>(
            'ordered.orders.*',
            async ({ payload: { key, n } }) => {
              log.started(key, `${key}:${n}`);
              handled.set(key, [...(handled.get(key) ?? []), n]);
              byInstance[instance]++;
              await pause(Math.random() * 5);
              log.finished(key);
            },
            { group: 'ordered', ordered: true },
          );
          await broker.start();
        }

        const keys = Array.from({ length: 10 }, (_, index) => `order-${index}`);
        const published = Array.from({ length: 20 }, (_, n) => n);
        // Each key's events one after the other (that is their publish order), the keys side by side, from both instances.
        await Promise.all(
          keys.map(async (key) => {
            for (const n of published) await publishStep(brokers[n % 2], { key, n });
          }),
        );

        await eventually(
          () => log.lines.length === 200,
          '200 events handled',
          () => Object.fromEntries(handled),
        );
        expect(log.overlaps).toEqual([]);
        expect(Object.fromEntries(handled)).toEqual(Object.fromEntries(keys.map((key) => [key, published])));
        expect(log.mostKeysAtOnce).toBeGreaterThan(1);
        const takingPart = byInstance.filter((count) => count > 0).length;
        expect(takingPart).toBeGreaterThanOrEqual(context.features.orderedGroupsSpread === false ? 1 : 2);
      });

      it("holds a failing event's key back until it succeeds, while other keys go on", async () => {
        const broker = context.broker({ retry: { maxRetries: 3, initialDelayMs: 300, backoffFactor: 1, jitter: 0 } });
        const log = new OrderLog();
        await broker.subscribe<Step>(
          'ordered.orders.*',
          ({ payload: { key, n } }, { attempt }) => {
            log.started(key, `${key}:${n}#${attempt}`);
            const fails = key === 'a' && n === 1 && attempt <= 2;
            log.finished(key, fails ? `${key}:${n} failed` : `${key}:${n} done`);
            if (fails) throw new Error('not yet');
          },
          { group: 'ordered', ordered: true },
        );
        await broker.start();

        for (const step of [
          { key: 'a', n: 1 },
          { key: 'a', n: 2 },
          { key: 'b', n: 1 },
          { key: 'b', n: 2 },
        ])
          await publishStep(broker, step);

        await eventually(
          () => log.lines.includes('a:2 done'),
          "the failing event's key to go on",
          () => log.lines,
        );
        expect(log.lines.filter((line) => line.startsWith('a:'))).toEqual([
          'a:1#1',
          'a:1 failed',
          'a:1#2',
          'a:1 failed',
          'a:1#3',
          'a:1 done',
          'a:2#1',
          'a:2 done',
        ]);
        expect(log.indexOf('b:2 done')).toBeLessThan(log.indexOf('a:1#2'));
        expect(log.overlaps).toEqual([]);
      });

      it("lets a dead-lettered event's key go on with its next event", async () => {
        const broker = context.broker({ retry: { maxRetries: 1, initialDelayMs: 50, jitter: 0 } });
        const log = new OrderLog();
        await broker.subscribe<Step>(
          'ordered.orders.*',
          ({ payload: { key, n } }, { attempt }) => {
            log.started(key, `${key}:${n}#${attempt}`);
            log.finished(key);
            if (n === 1) throw new Error('never');
          },
          { group: 'ordered', ordered: true },
        );
        await broker.start();

        const first = await publishStep(broker, { key: 'a', n: 1 });
        await publishStep(broker, { key: 'a', n: 2 });

        await eventually(
          () => log.lines.includes('a:2#1'),
          'the next event of the key handled',
          () => log.lines,
        );
        expect(log.lines).toEqual(['a:1#1', 'a:1#2', 'a:2#1']);
        const letters = await broker.transport.deadLetters({ group: 'ordered' });
        expect(letters.map((letter) => [letter.event.id, letter.attempts])).toEqual([[first.id, 2]]);
      });

      it('takes the events held before a new ordered group started (fromBeginning) in their turns too', async () => {
        const publisher = context.broker();
        await publisher.start();
        for (const step of [
          { key: 'a', n: 1 },
          { key: 'a', n: 2 },
          { key: 'b', n: 1 },
        ])
          await publishStep(publisher, step);

        const broker = context.broker();
        const log = new OrderLog();
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        await broker.subscribe<Step>(
          'ordered.orders.*',
          async ({ payload: { key, n } }) => {
            log.started(key, `${key}:${n}`);
            if (key === 'a' && n === 1) await held;
            log.finished(key);
          },
          { group: 'late', ordered: true, fromBeginning: true },
        );
        await broker.start();
        try {
          await eventually(
            () => log.lines.includes('a:1') && log.lines.includes('b:1'),
            'the first event of each key handled',
            () => log.lines,
          );
          await pause(QUIET_MS);
          expect(log.lines).not.toContain('a:2');
        } finally {
          release();
        }
        await eventually(
          () => log.lines.includes('a:2'),
          "the key's next event handled",
          () => log.lines,
        );
        expect(log.overlaps).toEqual([]);
      });

      it('refuses a consumer that orders a group otherwise than its running consumers do', async () => {
        const ordered = context.broker();
        let release!: () => void;
        const holding = new Promise<void>((resolve) => (release = resolve));
        let started = false;
        await ordered.subscribe(
          'ordered.orders.*',
          async () => {
            started = true;
            await holding;
          },
          { group: 'ordered', ordered: true },
        );
        await ordered.start();
        await publishStep(ordered, { key: 'a', n: 1 });
        await eventually(() => started, 'the ordered consumer at work');

        const unordered = context.broker();
        await unordered.subscribe('ordered.orders.*', () => undefined, { group: 'ordered' });
        try {
          await expect(unordered.start()).rejects.toThrow(
            /Group ordered is consumed ordered.*; a consumer of the same group cannot consume it unordered \(give every consumer of a group the same ordered option\)/,
          );
        } finally {
          release();
        }
      });
    }

    // oxlint-disable-next-line vitest/no-conditional-tests
    if (!context.features.orderedGroups) {
      it('refuses an ordered subscription, saying that the transport does not support it yet', async () => {
        const broker = context.broker();
        await expect(broker.subscribe('ordered.orders.*', () => undefined, { group: 'ordered', ordered: true })).rejects.toThrow(
          `Cannot subscribe group ordered ordered: the ${broker.transport.type} transport does not support ordered groups yet (the memory, postgres, redis and nats transports do)`,
        );
      });
    }
  });
}
