import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent } from '../../../lib/index.js';
import type { Delivery } from '../../../lib/core/event-transport.interface.js';
import { PostgresTransport } from '../../../lib/postgres.js';
import { PostgresNames } from '../../../lib/transports/postgres/postgres-names.js';
import { orderedClaimStatement } from '../../../lib/transports/postgres/postgres-ordered-claim.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function setup(name: string) {
  const schema = uniqueSchema(name);
  cleanups.push(() => dropSchema(schema));
  const makeBroker = (
    instanceId: string,
    options: {
      ackTimeoutMs?: number;
      logger?: RecordingLogger;
      shutdownTimeoutMs?: number;
      mode?: 'sync' | 'async';
      pollIntervalMs?: number;
    } = {},
  ): EventBroker => {
    const broker = new EventBroker({
      transport: new PostgresTransport({
        connectionString: DATABASE_URL,
        schema,
        ackTimeoutMs: options.ackTimeoutMs ?? 1000,
        pollIntervalMs: options.pollIntervalMs ?? 50,
      }),
      instanceId,
      shutdownTimeoutMs: options.shutdownTimeoutMs,
      mode: options.mode,
      logger: options.logger ?? new RecordingLogger(),
      retry: { initialDelayMs: 10, maxDelayMs: 50, jitter: 0, maxRetries: 3 },
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
  const client = async (): Promise<pg.Client> => {
    const connection = new pg.Client({ connectionString: DATABASE_URL });
    await connection.connect();
    cleanups.push(() => connection.end());
    return connection;
  };
  /** The advisory lock an ordered group's claims take turns under. */
  const claimLock = (group: string) => `hashtext(${pg.escapeLiteral(new PostgresNames(schema).groupLock(group))})`;
  return { schema, makeBroker, client, claimLock };
}

/** A node of the JSON plan of EXPLAIN ANALYZE, the fields read here. */
interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** The rows of `table` the plan's nodes read: those they returned and those their filters removed, in every loop. */
function rowsRead(node: PlanNode, table: string): number {
  const own = node['Relation Name'] === table ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops'] : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child, table), 0);
}

describe('PostgreSQL ordered groups', () => {
  it("claims the due heads of other keys without reading a hot key's backlog, however long", async () => {
    const { schema, client } = setup('pg_ord_claim_cost');
    const transport = new PostgresTransport({ connectionString: DATABASE_URL, schema });
    await transport.connect();
    await transport.close();
    const names = new PostgresNames(schema);
    const sql = await client();
    await sql.query(
      `INSERT INTO ${names.groups} (name, patterns, type_regex, ordered) VALUES ('billing', '{public.orders.*}', '^public\\.orders\\.[^.]+$', true)`,
    );
    // 2 000 events of one key, its first one in flight; then the first events of 100 other keys.
    await sql.query(
      `INSERT INTO ${names.events} (id, source, type, key)
       SELECT 'hot-' || n, 'internal', 'public.orders.update', 'hot' FROM generate_series(1, 2000) n`,
    );
    await sql.query(
      `INSERT INTO ${names.events} (id, source, type, key)
       SELECT 'cold-' || n, 'internal', 'public.orders.update', 'cold-' || n FROM generate_series(1, 100) n`,
    );
    await sql.query(
      `UPDATE ${names.deliveries} SET locked_by = 'other', locked_until = now() + interval '1 hour', attempts = 1 WHERE event_id = 'hot-1'`,
    );
    await sql.query(`VACUUM ANALYZE ${names.deliveries}`);
    const claim = orderedClaimStatement(names, { group: 'billing', count: 10, consumer: 'instance-1', leaseMs: 30_000, after: 'cold-95' });

    await sql.query('BEGIN');
    const { rows } = await sql.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${claim}`);
    await sql.query('ROLLBACK');
    const [{ Plan: plan }] = rows[0]['QUERY PLAN'];
    const { rows: claimed } = await sql.query<{ id: string; last_key: string }>(claim);

    expect(plan['Actual Rows']).toBe(10);
    // About four rows per key visited (its next key, its head, the head locked and updated): not thousands.
    expect(rowsRead(plan, 'deliveries')).toBeLessThan(100);
    // The walk starts after the last key claimed, passes the hot key by (its head in flight) and wraps around.
    expect(claimed.map((row) => row.id).toSorted()).toEqual(
      ['cold-96', 'cold-97', 'cold-98', 'cold-99', 'cold-1', 'cold-10', 'cold-100', 'cold-11', 'cold-12', 'cold-13'].toSorted(),
    );
    expect(claimed[0].last_key).toBe('cold-13');
  });

  it('keeps a key in ordered_turns while its delivery is out: the ack or dead letter deletes it, the retention cleanup that of a deleted event', async () => {
    const { schema, client } = setup('pg_ord_turns');
    const transport = new PostgresTransport({ connectionString: DATABASE_URL, schema, cleanupIntervalMs: 100 });
    cleanups.push(() => transport.close());
    await transport.connect({ logger: new RecordingLogger() });
    const held: Delivery[] = [];
    const consumer = await transport.consume(
      { group: 'billing', patterns: ['public.orders.*'], consumerName: 'instance-1', ordered: true },
      (delivery) => void held.push(delivery),
      { capacity: () => 10, whenReady: async () => undefined },
    );
    cleanups.push(() => consumer.close());
    const [first, second, third] = ['order-1', 'order-2', 'order-3'].map((key) =>
      createEvent({ type: 'public.orders.create', payload: {}, key }),
    );
    for (const event of [first, second, third]) await transport.publish(event);
    await waitFor(() => held.length === 3, 'the three keys handed out');
    const sql = await client();
    const turns = async () =>
      (
        await sql.query<{ ordering_key: string; event_id: string }>(
          `SELECT ordering_key, event_id FROM "${schema}".ordered_turns ORDER BY ordering_key`,
        )
      ).rows;
    expect(await turns()).toEqual([
      { ordering_key: 'order-1', event_id: first.id },
      { ordering_key: 'order-2', event_id: second.id },
      { ordering_key: 'order-3', event_id: third.id },
    ]);

    const delivery = (id: string) => held.find((one) => one.event.id === id)!;
    await delivery(first.id).ack();
    await delivery(second.id).deadLetter('broken');
    expect(await turns()).toEqual([{ ordering_key: 'order-3', event_id: third.id }]);
    await transport.delete(third.id);
    await waitFor(async () => (await turns()).length === 0, 'the row of the deleted event removed by the cleanup');
  });

  it('gives a claim that waited long for its turn a whole lease, so that no other instance takes the delivery while it runs', async () => {
    const { schema, makeBroker, client, claimLock } = setup('pg_ord_lease');
    const instances = [makeBroker('a'), makeBroker('b')];
    const reader = await client();
    const starts: { id: string; leaseLeftMs: number }[] = [];
    for (const broker of instances) {
      await broker.subscribe(
        'public.orders.*',
        async (event) => {
          const { rows } = await reader.query<{ left: number }>(
            `SELECT extract(epoch FROM locked_until - clock_timestamp()) * 1000 AS left FROM "${schema}".deliveries WHERE event_id = $1`,
            [event.id],
          );
          starts.push({ id: event.id, leaseLeftMs: Number(rows[0].left) });
          await sleep(700);
        },
        { group: 'ordered', ordered: true },
      );
      await broker.start();
    }
    const blocker = await client();
    await blocker.query(`SELECT pg_advisory_lock(${claimLock('ordered')})`);
    const event = await instances[0].publishAsync({ type: 'public.orders.create', payload: {}, key: 'order-1' });
    // The instances' claims queue behind the lock for longer than the lease (1 s).
    await sleep(1500);
    await blocker.query(`SELECT pg_advisory_unlock(${claimLock('ordered')})`);

    await waitFor(() => starts.length > 0, 'the event handled');
    await sleep(600);
    expect(starts).toEqual([{ id: event.id, leaseLeftMs: expect.toSatisfy((left: number) => left > 500) }]);
  });

  it("does not let a handler whose lease ran out and was claimed again settle the new claim's delivery, and says the lease was lost", async () => {
    const { schema, makeBroker, client } = setup('pg_ord_stale');
    const loggers = [new RecordingLogger(), new RecordingLogger()];
    // A lease of 3 s: renewed every second, so that the takeover below comes before a renewal.
    const instances = [
      makeBroker('a', { ackTimeoutMs: 3000, logger: loggers[0] }),
      makeBroker('b', { ackTimeoutMs: 3000, logger: loggers[1] }),
    ];
    const steps: string[] = [];
    const gates = new Map<string, () => void>();
    const gate = (name: string) => new Promise<void>((resolve) => gates.set(name, resolve));
    for (const broker of instances) {
      await broker.subscribe<{ n: number }>(
        'public.orders.*',
        async (event) => {
          const name = `${event.payload.n}#${event.retryCount + 1}`;
          steps.push(`${name} starts`);
          if (event.payload.n === 1) await gate(name);
          steps.push(`${name} ends`);
        },
        { group: 'ordered', ordered: true, concurrency: 1 },
      );
      await broker.start();
    }
    const first = await instances[0].publishAsync({ type: 'public.orders.create', payload: { n: 1 }, key: 'order-1' });
    await instances[0].publishAsync({ type: 'public.orders.update', payload: { n: 2 }, key: 'order-1' });
    await waitFor(() => gates.has('1#1'), 'the first event handled');
    // As if the instance handling it had stalled: its lease runs out, and the other instance claims the event again.
    const admin = await client();
    await admin.query(`UPDATE "${schema}".deliveries SET locked_until = now() - interval '1 second' WHERE event_id = $1`, [first.id]);
    await waitFor(() => gates.has('1#2'), 'the first event claimed again');
    const lost = () => loggers.flatMap((logger) => logger.lines).filter((line) => line.message.startsWith('Lost the lease'));
    await waitFor(() => lost().length > 0, 'the stalled instance to find its lease lost');
    expect(lost()[0].message).toContain(`Lost the lease of 1 deliveries of group ordered still being handled (events ${first.id})`);

    gates.get('1#1')!();
    await waitFor(() => steps.includes('1#1 ends'), 'the stalled handler to end');
    await sleep(300);
    expect(steps).toEqual(['1#1 starts', '1#2 starts', '1#1 ends']);
    gates.get('1#2')!();
    await waitFor(() => steps.includes('2#1 ends'), 'the next event of the key handled');
    expect(steps).toEqual(['1#1 starts', '1#2 starts', '1#1 ends', '1#2 ends', '2#1 starts', '2#1 ends']);
  });

  it('leaves the deliveries whose handlers still run at a shutdown that timed out to their lease, for the next instance', async () => {
    const { makeBroker } = setup('pg_ord_shutdown');
    const stopping = makeBroker('stopping', { ackTimeoutMs: 2000, shutdownTimeoutMs: 100 });
    const staying = makeBroker('staying', { ackTimeoutMs: 2000 });
    const steps: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const handler = (instance: string) => async () => {
      steps.push(`${instance} starts`);
      if (instance === 'stopping') await held;
      steps.push(`${instance} ends`);
    };
    await stopping.subscribe('public.orders.*', handler('stopping'), { group: 'ordered', ordered: true });
    await stopping.start();
    await stopping.publishAsync({ type: 'public.orders.create', payload: {}, key: 'order-1' });
    await waitFor(() => steps.includes('stopping starts'), 'the event handled');
    await staying.subscribe('public.orders.*', handler('staying'), { group: 'ordered', ordered: true });
    await staying.start();

    await stopping.stop();
    await sleep(500);
    expect(steps).toEqual(['stopping starts']);
    release();
    await waitFor(() => steps.includes('staying ends'), 'the other instance to take the event over once the lease ended');
    expect(steps).toEqual(['stopping starts', 'stopping ends', 'staying starts', 'staying ends']);
  });

  it('refuses an unordered consumer while an ordered one of the group runs idle, saying how to switch, and keeps the group ordered', async () => {
    const { makeBroker } = setup('pg_ord_idle');
    const ordered = makeBroker('ordered-1');
    const running: string[] = [];
    const order: number[] = [];
    await ordered.subscribe<{ n: number }>(
      'public.orders.*',
      async (event) => {
        running.push(event.id);
        if (running.length > 1) order.push(-1);
        order.push(event.payload.n);
        await sleep(50);
        running.splice(running.indexOf(event.id), 1);
      },
      { group: 'billing', ordered: true },
    );
    await ordered.start();
    const unordered = makeBroker('unordered-1');
    await unordered.subscribe('public.orders.*', () => undefined, { group: 'billing' });

    await expect(unordered.start()).rejects.toThrow(
      'Group billing is consumed ordered by running instances (ordered-1); a consumer of the same group cannot consume it unordered ' +
        "(give every consumer of a group the same ordered option). To change a group's ordered option, stop every instance of the group first",
    );
    for (let n = 1; n <= 4; n++) await ordered.publishAsync({ type: 'public.orders.update', payload: { n }, key: 'order-1' });
    await waitFor(() => order.length >= 4, 'the four events handled');
    expect(order).toEqual([1, 2, 3, 4]);

    await ordered.stop();
    const switched = makeBroker('unordered-2');
    await switched.subscribe('public.orders.*', () => undefined, { group: 'billing' });
    await expect(switched.start()).resolves.toBeUndefined();
  });

  it('does not hand out an event of a key beside a later one that a stopped unordered consumer still leases, once the group is ordered', async () => {
    const { schema, makeBroker, client } = setup('pg_ord_switched');
    const unordered = makeBroker('unordered');
    await unordered.subscribe('public.orders.*', () => undefined, { group: 'billing' });
    await unordered.start();
    await unordered.stop();
    const sql = await client();
    await sql.query(
      `INSERT INTO "${schema}".events (id, source, type, payload, key)
       VALUES ('event-1', 'internal', 'public.orders.create', '{"n": 1}', 'order-1'), ('event-2', 'internal', 'public.orders.update', '{"n": 2}', 'order-1')`,
    );
    // As if the unordered consumer had taken the later event and crashed: its lease still runs.
    await sql.query(
      `UPDATE "${schema}".deliveries SET locked_by = 'unordered-crashed', locked_until = now() + interval '1 hour', attempts = 1 WHERE event_id = 'event-2'`,
    );

    const handled: number[] = [];
    const ordered = makeBroker('ordered');
    await ordered.subscribe<{ n: number }>('public.orders.*', (event) => void handled.push(event.payload.n), {
      group: 'billing',
      ordered: true,
    });
    await ordered.start();
    await sleep(500);
    expect(handled).toEqual([]);

    await sql.query(`UPDATE "${schema}".deliveries SET locked_until = now() - interval '1 second' WHERE event_id = 'event-2'`);
    await waitFor(() => handled.length === 2, 'both events handled once the lease ran out');
    expect(handled).toEqual([1, 2]);
  });

  it('orders an event whose transaction began while the group was unordered with the later ones of its key', async () => {
    const { makeBroker, client } = setup('pg_ord_raced');
    const unordered = makeBroker('unordered');
    await unordered.subscribe('public.orders.*', () => undefined, { group: 'billing' });
    await unordered.start();
    const tx = await client();
    await tx.query('BEGIN');
    await unordered.publishAsync({ type: 'public.orders.create', payload: { n: 1 }, key: 'order-1' }, { tx });
    await unordered.stop();

    const running: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const ordered = makeBroker('ordered');
    await ordered.subscribe<{ n: number }>(
      'public.orders.*',
      async (event) => {
        running.push(`${event.payload.n} starts`);
        if (event.payload.n === 2) await held;
        running.push(`${event.payload.n} ends`);
      },
      { group: 'billing', ordered: true },
    );
    await ordered.start();
    await ordered.publishAsync({ type: 'public.orders.update', payload: { n: 2 }, key: 'order-1' });
    try {
      await waitFor(() => running.includes('2 starts'), 'the committed event handled');
      await tx.query('COMMIT');
      await sleep(500);
      expect(running).toEqual(['2 starts']);
    } finally {
      release();
    }
    await waitFor(() => running.includes('1 ends'), 'both events handled');
    expect(running).toEqual(['2 starts', '2 ends', '1 starts', '1 ends']);
  });

  it('does not let a delivery left handled inline by a stopped sync publisher hold its key back once the group is ordered', async () => {
    const { makeBroker } = setup('pg_ord_inline');
    const publisher = makeBroker('sync-publisher', { mode: 'sync', shutdownTimeoutMs: 100 });
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    cleanups.push(async () => release());
    await publisher.subscribe('public.orders.*', () => stuck, { group: 'billing' });
    await publisher.start();
    void publisher.publishSync({ type: 'public.orders.create', payload: { n: 1 }, key: 'order-1' }).catch(() => undefined);
    await sleep(200);
    await publisher.stop();

    const handled: number[] = [];
    const ordered = makeBroker('ordered');
    await ordered.subscribe<{ n: number }>('public.orders.*', (event) => void handled.push(event.payload.n), {
      group: 'billing',
      ordered: true,
    });
    await ordered.start();
    await ordered.publishAsync({ type: 'public.orders.update', payload: { n: 2 }, key: 'order-1' });
    await waitFor(() => handled.length > 0, 'the later event of the key handled');
    expect(handled).toEqual([2]);
  });

  it("wakes the group's other instances when a key's event is acked, so that its next one does not wait for their poll", async () => {
    const { makeBroker } = setup('pg_ord_wake');
    const first = makeBroker('first', { pollIntervalMs: 10_000 });
    const second = makeBroker('second', { pollIntervalMs: 10_000 });
    const times = new Map<string, number>();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const subscription = await first.subscribe<{ n: number }>(
      'public.orders.*',
      async () => {
        await held;
        times.set('1 ends', Date.now());
      },
      { group: 'ordered', ordered: true },
    );
    await first.start();
    await first.publishAsync({ type: 'public.orders.create', payload: { n: 1 }, key: 'order-1' });
    await waitFor(async () => (await first.stats()).activeWorkers === 1, 'the first event handled');
    await second.subscribe<{ n: number }>('public.orders.*', () => void times.set('2 starts', Date.now()), {
      group: 'ordered',
      ordered: true,
    });
    await second.start();
    await second.publishAsync({ type: 'public.orders.update', payload: { n: 2 }, key: 'order-1' });
    await sleep(200);

    // The first instance takes nothing more: only the second one can hand out the key's next event.
    const leaving = first.unsubscribe(subscription);
    release();
    await leaving;
    await waitFor(() => times.has('2 starts'), "the key's next event handled", 5000);
    expect(times.get('2 starts')! - times.get('1 ends')!).toBeLessThan(2000);
  });
});
