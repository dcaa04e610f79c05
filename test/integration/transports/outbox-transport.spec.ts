import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTransport } from '../../../lib/index.js';
import { OutboxTransport } from '../../../lib/postgres.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
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
});
