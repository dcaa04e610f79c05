import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { CreateEventInput } from '../../core/create-event.js';
import type { EventBroker } from '../../core/event-broker.js';
import { BrokerStateError } from '../../core/event-broker.errors.js';
import { eventually, pause, QUIET_MS, type ConformanceContext } from './conformance-context.js';

/** Delivery as a user of `EventBroker` sees it: fan-out, competing consumers, retries, dead letters, takeover. */

const TYPE = 'conformance.orders.create';
const PATTERN = 'conformance.orders.*';

interface Order {
  n: number;
  poison?: boolean;
  note?: string;
}

function order(n: number, extra: Partial<Order> = {}): CreateEventInput<Order> {
  return { type: TYPE, source: 'system', payload: { n, ...extra } };
}

function countInto(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** The keys counted more than once, with their counts: `[]` when every one was counted once. */
function duplicates(counts: Map<string, number>): [string, number][] {
  return [...counts].filter(([, count]) => count !== 1);
}

function missing(expected: readonly string[], counts: Map<string, number>): string[] {
  return expected.filter((id) => !counts.has(id));
}

async function statusOf(broker: EventBroker, id: string): Promise<string | undefined> {
  return (await broker.transport.get(id))?.status;
}

export function describeDeliveryContract(context: ConformanceContext): void {
  describe('delivery', () => {
    it('handles each of 1 000 concurrently published events exactly once', async () => {
      const broker = context.broker();
      const counts = new Map<string, number>();
      const payloadOf = new Map<string, number>();
      await broker.subscribe<Order>(
        PATTERN,
        (event) => {
          countInto(counts, event.id);
          payloadOf.set(event.id, event.payload.n);
        },
        { group: 'bulk' },
      );
      await broker.start();

      const published = await Promise.all(Array.from({ length: 1000 }, (_, n) => broker.publish(order(n))));
      const ids = published.map((event) => event.id);
      expect(new Set(ids).size).toBe(1000);

      await eventually(
        () => counts.size >= 1000,
        'all 1 000 events handled',
        () => ({ handled: counts.size, missing: missing(ids, counts).length }),
      );
      await pause(QUIET_MS);
      expect(missing(ids, counts)).toEqual([]);
      expect(counts.size).toBe(1000);
      expect(duplicates(counts)).toEqual([]);
      expect(published.every((event, n) => payloadOf.get(event.id) === n)).toBe(true);
    });

    it('fans out: every group gets every event', async () => {
      const audit = context.broker();
      const mailer = context.broker();
      const audited = new Map<string, number>();
      const mailed = new Map<string, number>();
      await audit.subscribe(PATTERN, (event) => countInto(audited, event.id), { group: 'fanout-audit' });
      await mailer.subscribe(PATTERN, (event) => countInto(mailed, event.id), { group: 'fanout-mailer' });
      await audit.start();
      await mailer.start();

      const ids = (await Promise.all(Array.from({ length: 20 }, (_, n) => audit.publish(order(n))))).map((event) => event.id);

      await eventually(
        () => audited.size >= 20 && mailed.size >= 20,
        'both groups handled every event',
        () => ({ audit: audited.size, mailer: mailed.size }),
      );
      await pause(QUIET_MS);
      for (const counts of [audited, mailed]) {
        expect(missing(ids, counts)).toEqual([]);
        expect(counts.size).toBe(20);
        expect(duplicates(counts)).toEqual([]);
      }
    });

    it('competing consumers: one group on two instances handles each event once, and both get work', async () => {
      const handledBy = new Map<string, string[]>();
      const counts = new Map<string, number>();
      const instances = ['a', 'b'].map((label) => ({ label, broker: context.broker({ workerCount: 2, bufferSize: 4 }) }));
      for (const { label, broker } of instances) {
        await broker.subscribe(
          PATTERN,
          async (event) => {
            await pause(3);
            countInto(counts, event.id);
            handledBy.set(label, [...(handledBy.get(label) ?? []), event.id]);
          },
          { group: 'competing' },
        );
        await broker.start();
      }

      const ids = (await Promise.all(Array.from({ length: 100 }, (_, n) => instances[n % 2].broker.publish(order(n))))).map(
        (event) => event.id,
      );

      await eventually(
        () => counts.size >= 100,
        'all 100 events handled',
        () => ({ handled: counts.size }),
      );
      await pause(QUIET_MS);
      expect(missing(ids, counts)).toEqual([]);
      expect(duplicates(counts)).toEqual([]);
      expect(handledBy.get('a')?.length ?? 0).toBeGreaterThan(0);
      expect(handledBy.get('b')?.length ?? 0).toBeGreaterThan(0);
      expect((handledBy.get('a')?.length ?? 0) + (handledBy.get('b')?.length ?? 0)).toBe(100);
    });

    it('redelivers after a handler error until the handler succeeds', async () => {
      const broker = context.broker();
      const retryCounts: number[] = [];
      await broker.subscribe(
        PATTERN,
        (event) => {
          retryCounts.push(event.retryCount);
          if (retryCounts.length <= 2) throw new Error(`transient failure ${retryCounts.length}`);
        },
        { group: 'flaky' },
      );
      await broker.start();

      const event = await broker.publish(order(1));

      await eventually(
        async () => (await statusOf(broker, event.id)) === 'completed',
        'event completed after two failures',
        () => ({ retryCounts }),
      );
      await pause(QUIET_MS);
      expect(retryCounts).toEqual([0, 1, 2]);
      expect(await broker.transport.get(event.id)).toMatchObject({ id: event.id, status: 'completed' });
      expect(await broker.transport.deadLetters({ group: 'flaky' })).toEqual([]);
    });

    it('dead-letters an event whose handler always fails and keeps handling the others', async () => {
      const broker = context.broker();
      const maxRetries = 2;
      const good = new Map<string, number>();
      let poisonCalls = 0;
      await broker.subscribe<Order>(
        PATTERN,
        (event) => {
          if (event.payload.poison) {
            poisonCalls++;
            throw new Error('poison pill');
          }
          countInto(good, event.id);
        },
        { group: 'poisoned', retry: { maxRetries } },
      );
      await broker.start();

      const poison = await broker.publish(order(0, { poison: true }));
      const ids: string[] = [];
      for (let n = 1; n <= 10; n++) ids.push((await broker.publish(order(n))).id);
      await eventually(async () => (await broker.transport.deadLetters({ group: 'poisoned' })).length > 0, 'poison dead-lettered');
      for (let n = 11; n <= 20; n++) ids.push((await broker.publish(order(n))).id);

      await eventually(
        () => good.size >= 20,
        'every good event handled',
        () => ({ handled: good.size }),
      );
      await eventually(async () => (await statusOf(broker, poison.id)) === 'failed', 'poison event failed');
      await pause(QUIET_MS);
      expect(missing(ids, good)).toEqual([]);
      expect(duplicates(good)).toEqual([]);
      expect(poisonCalls).toBe(maxRetries + 1);
      const deadLetters = await broker.transport.deadLetters({ group: 'poisoned' });
      expect(deadLetters).toHaveLength(1);
      expect(deadLetters[0]).toMatchObject({ group: 'poisoned', error: 'poison pill', attempts: maxRetries + 1, event: { id: poison.id } });
      expect(await broker.transport.get(poison.id)).toMatchObject({ status: 'failed', error: 'poison pill' });
    });

    // Order is per key (a partitioned transport orders nothing across keys): these events share one.
    it("delivers one key's events to one group in publish order with workerCount 1", async () => {
      const broker = context.broker({ workerCount: 1 });
      const received: number[] = [];
      await broker.subscribe<Order>(PATTERN, (event) => void received.push(event.payload.n), { group: 'ordered' });
      await broker.start();

      for (let n = 0; n < 50; n++) await broker.publish({ ...order(n), key: 'ordered' });

      await eventually(
        () => received.length >= 50,
        'all 50 events received',
        () => ({ received: received.length }),
      );
      await pause(QUIET_MS);
      expect(received).toEqual(Array.from({ length: 50 }, (_, n) => n));
    });

    it('starts a new group at new events, and at the oldest held event with fromBeginning', async () => {
      const first = context.broker();
      const early: string[] = [];
      await first.subscribe(PATTERN, (event) => void early.push(event.id), { group: 'early' });
      await first.start();
      const e1 = await first.publish(order(1));
      await eventually(() => early.includes(e1.id), 'E1 handled by the group that existed');

      const second = context.broker();
      const fromNow: string[] = [];
      const fromStart: string[] = [];
      await second.start();
      await second.subscribe(PATTERN, (event) => void fromNow.push(event.id), { group: 'late-default' });
      await second.subscribe(PATTERN, (event) => void fromStart.push(event.id), { group: 'late-from-beginning', fromBeginning: true });
      const e2 = await second.publish(order(2));

      await eventually(
        () => fromNow.includes(e2.id) && fromStart.includes(e1.id) && fromStart.includes(e2.id),
        'E2 reached both late groups, E1 the fromBeginning group',
        () => ({ e1: e1.id, e2: e2.id, fromNow, fromStart }),
      );
      await pause(QUIET_MS);
      expect(fromNow).toEqual([e2.id]);
      expect(fromStart).toHaveLength(2);
      expect(new Set(fromStart)).toEqual(new Set([e1.id, e2.id]));
    });

    it('lets another instance of the group finish an event whose handler was stuck when its broker stopped', async () => {
      const stuck = context.broker({ shutdownTimeoutMs: 200 });
      let stuckOn: string | undefined;
      await stuck.subscribe(
        PATTERN,
        async (event) => {
          stuckOn = event.id;
          await new Promise(() => undefined);
        },
        { group: 'stuck' },
      );
      await stuck.start();
      const event = await stuck.publish(order(1));
      await eventually(() => stuckOn === event.id, 'the stuck handler took the event');

      const healthy = context.broker();
      const finished = new Map<string, number>();
      await healthy.subscribe(PATTERN, (delivered) => countInto(finished, delivered.id), { group: 'stuck' });
      await healthy.start();
      await stuck.stop();

      await eventually(
        () => finished.has(event.id),
        'the other instance handled the abandoned event',
        () => ({ finished: [...finished] }),
      );
      await eventually(async () => (await statusOf(healthy, event.id)) === 'completed', 'the abandoned event completed');
      await pause(QUIET_MS);
      expect([...finished]).toEqual([[event.id, 1]]);
    });

    it('handles events again after unsubscribe and resubscribe of the same group on a running broker', async () => {
      const broker = context.broker();
      await broker.start();
      const firstSeen: string[] = [];
      const secondSeen: string[] = [];

      const subscription = await broker.subscribe(PATTERN, (event) => void firstSeen.push(event.id), { group: 'resubscribed' });
      const e1 = await broker.publish(order(1));
      await eventually(() => firstSeen.includes(e1.id), 'E1 handled while subscribed');
      await broker.unsubscribe(subscription);

      await broker.subscribe(PATTERN, (event) => void secondSeen.push(event.id), { group: 'resubscribed' });
      const e2 = await broker.publish(order(2));
      await eventually(
        () => secondSeen.includes(e2.id),
        'E2 handled after resubscribing',
        () => ({ firstSeen, secondSeen }),
      );
      await pause(QUIET_MS);
      expect(firstSeen).toEqual([e1.id]);
      expect(secondSeen).toEqual([e2.id]);
    });

    it('delivers a replayed dead letter again once the handler is healthy', async () => {
      const broker = context.broker();
      let healthy = false;
      const handled: string[] = [];
      await broker.subscribe(
        PATTERN,
        (event) => {
          if (!healthy) throw new Error('downstream unavailable');
          handled.push(event.id);
        },
        { group: 'replayed', retry: { maxRetries: 0 } },
      );
      await broker.start();

      const event = await broker.publish(order(1));
      await eventually(async () => (await broker.transport.deadLetters({ group: 'replayed' })).length > 0, 'event dead-lettered');
      const [deadLetter] = await broker.transport.deadLetters({ group: 'replayed' });
      expect(deadLetter).toMatchObject({ group: 'replayed', error: 'downstream unavailable', attempts: 1, event: { id: event.id } });
      await eventually(async () => (await statusOf(broker, event.id)) === 'failed', 'event failed before the replay');

      healthy = true;
      await broker.transport.replay(deadLetter.id);

      await eventually(
        async () => (await statusOf(broker, event.id)) === 'completed',
        'event completed after the replay',
        () => ({ handled }),
      );
      await pause(QUIET_MS);
      expect(handled).toEqual([event.id]);
      expect(await broker.transport.deadLetters({ group: 'replayed' })).toEqual([]);
    });

    it('completes a dead letter that another instance replayed, once the handler succeeds', async () => {
      const worker = context.broker();
      const admin = context.broker();
      let healthy = false;
      const handled: string[] = [];
      await worker.subscribe(
        PATTERN,
        (event) => {
          if (!healthy) throw new Error('downstream unavailable');
          handled.push(event.id);
        },
        { group: 'replayed-elsewhere', retry: { maxRetries: 0 } },
      );
      await worker.start();
      await admin.start();

      const event = await worker.publish(order(1));
      await eventually(async () => (await statusOf(admin, event.id)) === 'failed', 'event failed');
      const [deadLetter] = await admin.transport.deadLetters({ group: 'replayed-elsewhere' });
      healthy = true;
      await admin.transport.replay(deadLetter.id);

      await eventually(
        async () => (await statusOf(admin, event.id)) === 'completed',
        'event completed after the replay from the other instance',
        async () => ({ handled, status: await statusOf(admin, event.id) }),
      );
      expect(handled).toEqual([event.id]);
    });

    it('stores and handles once an event published again with the same id', async () => {
      const broker = context.broker();
      const counts = new Map<string, number>();
      await broker.subscribe(PATTERN, (event) => countInto(counts, event.id), { group: 'idempotent' });
      await broker.start();

      const first = await broker.publish(order(1));
      await broker.publish({ ...order(1), id: first.id });
      await Promise.all([broker.publish({ ...order(2), id: 'retried-together' }), broker.publish({ ...order(2), id: 'retried-together' })]);

      await eventually(
        () => counts.size === 2,
        'both events handled',
        () => ({ counts: [...counts] }),
      );
      await pause(QUIET_MS);
      expect(duplicates(counts)).toEqual([]);
      expect((await broker.transport.list({ type: TYPE })).map((event) => event.id).toSorted()).toEqual(
        [first.id, 'retried-together'].toSorted(),
      );
    });

    it('stores the payload as a publish interceptor left it', async () => {
      const broker = context.broker({
        publishInterceptors: [
          async (event, publish) => {
            event.payload = { ...(event.payload as Order), note: 'redacted' };
            await publish();
          },
        ],
      });
      await broker.start();

      const event = await broker.publish(order(1, { note: 'card 4111 1111 1111 1111' }));

      expect((await broker.transport.get(event.id))?.payload).toEqual({ n: 1, note: 'redacted' });
    });

    it('loses nothing it accepted when a broker is stopped in the middle of a publish burst', async () => {
      const counts = new Map<string, number>();
      const publisher = context.broker();
      const other = context.broker();
      for (const broker of [publisher, other]) {
        await broker.subscribe(
          PATTERN,
          async (event) => {
            await pause(1);
            countInto(counts, event.id);
          },
          { group: 'burst' },
        );
        await broker.start();
      }

      const publishes: Promise<BrokerEvent<Order>>[] = [];
      let stopping: Promise<void> | undefined;
      for (let n = 0; n < 300; n++) {
        if (n === 150) stopping = publisher.stop();
        const publishing = publisher.publish(order(n));
        // Settled below with the rest; handled now so that a refusal is not an unhandled rejection meanwhile.
        publishing.catch(() => undefined);
        publishes.push(publishing);
        if (n % 10 === 9) await pause(1);
      }
      const outcomes = await Promise.allSettled(publishes);
      await stopping;

      const accepted = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value.id] : []));
      const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
      expect(accepted.length).toBeGreaterThan(0);
      expect(refused.length).toBeGreaterThan(0);
      for (const reason of refused) {
        expect(reason).toBeInstanceOf(BrokerStateError);
        expect((reason as Error).message).toMatch(/not running|stop|clos/i);
      }

      await eventually(
        () => missing(accepted, counts).length === 0,
        'every accepted event handled',
        () => ({ accepted: accepted.length, missing: missing(accepted, counts) }),
      );
      await pause(QUIET_MS);
      expect(missing(accepted, counts)).toEqual([]);
      expect(duplicates(counts)).toEqual([]);
    });

    it('publishSync runs the local handler before resolving and stores the event completed', async () => {
      const broker = context.broker();
      const steps: string[] = [];
      await broker.subscribe(
        PATTERN,
        async () => {
          await pause(10);
          steps.push('handler');
        },
        { group: 'inline' },
      );
      await broker.start();

      const event = await broker.publishSync(order(1));
      steps.push('published');

      expect(steps).toEqual(['handler', 'published']);
      expect(event.status).toBe('completed');
      expect(await broker.transport.get(event.id)).toMatchObject({ id: event.id, status: 'completed' });
      await pause(QUIET_MS);
      expect(steps).toEqual(['handler', 'published']);
    });
  });
}
