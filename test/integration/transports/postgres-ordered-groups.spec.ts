import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker } from '../../../lib/index.js';
import { PostgresTransport } from '../../../lib/postgres.js';
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
  const makeBroker = (instanceId: string, options: { ackTimeoutMs?: number; logger?: RecordingLogger } = {}): EventBroker => {
    const broker = new EventBroker({
      transport: new PostgresTransport({
        connectionString: DATABASE_URL,
        schema,
        ackTimeoutMs: options.ackTimeoutMs ?? 1000,
        pollIntervalMs: 50,
      }),
      instanceId,
      logger: options.logger ?? new RecordingLogger(),
      retry: { initialDelayMs: 10, maxDelayMs: 50, jitter: 0, maxRetries: 0 },
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
  const claimLock = (group: string) => `hashtext('nestjs-event-broker:${schema}:ordered:${group}')`;
  return { schema, makeBroker, client, claimLock };
}

describe('PostgreSQL ordered groups', () => {
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
});
