import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, MemoryTransport, type BrokerEvent } from '../../../lib/index.js';
import { OutboxTransport } from '../../../lib/postgres.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

describe('OutboxTransport', () => {
  it('connected twice (by hand, then by EventBroker.start) holds one listener, and none once closed', async () => {
    const schema = uniqueSchema('outbox_twice');
    cleanups.push(() => dropSchema(schema));
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    cleanups.push(() => admin.end());
    const listeners = async (): Promise<number> => {
      const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1`, [
        `LISTEN "${schema}_outbox"`,
      ]);
      return rows[0].n;
    };
    const outbox = new OutboxTransport(new MemoryTransport(), { connectionString: DATABASE_URL, schema });
    await outbox.connect();
    await outbox.connect();
    expect(await listeners()).toBe(1);
    await outbox.close();
    await waitFor(async () => (await listeners()) === 0, 'the listener to be released');
  });

  it('forwards a row written before events had keys, whose metadata partitionkey was a number, and the rows after it', async () => {
    const schema = uniqueSchema('outbox_old_row');
    cleanups.push(() => dropSchema(schema));
    const logger = new RecordingLogger();
    const broker = new EventBroker({
      transport: new OutboxTransport(new MemoryTransport(), { connectionString: DATABASE_URL, schema, pollIntervalMs: 50 }),
      logger,
    });
    cleanups.push(() => broker.stop());
    const seen: BrokerEvent[] = [];
    await broker.subscribe('orders.**', (event) => void seen.push(event), { group: 'g' });
    await broker.start();
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    cleanups.push(() => admin.end());
    const oldRow = {
      specversion: '1.0',
      id: 'old-1',
      source: 'system',
      type: 'orders.placed',
      time: new Date().toISOString(),
      partitionkey: 7,
    };
    const newer = { ...oldRow, id: 'new-1', partitionkey: 'order-1' };
    for (const row of [oldRow, newer]) {
      await admin.query(`INSERT INTO "${schema}".outbox (id, event) VALUES ($1, $2)`, [row.id, JSON.stringify(row)]);
    }
    await admin.query(`NOTIFY "${schema}_outbox"`);

    await waitFor(() => seen.length === 2, 'both rows forwarded and handled');
    expect(seen.map((event) => [event.id, event.key, event.metadata])).toEqual([
      ['old-1', undefined, { partitionkey: 7 }],
      ['new-1', 'order-1', {}],
    ]);
    expect(logger.lines.filter((line) => line.message.includes('Outbox relay'))).toEqual([]);
  });
});
