import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createEvent, EventBroker } from '../../../lib/index.js';
import type { Delivery } from '../../../lib/core/event-transport.interface.js';
import { PostgresTransport } from '../../../lib/postgres.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function transportOn(schema: string, ackTimeoutMs: number): PostgresTransport {
  return new PostgresTransport({ connectionString: DATABASE_URL, schema, ackTimeoutMs, pollIntervalMs: 20 });
}

describe('PostgresTransport locks', () => {
  it('settles a batch of acks while the lease heartbeat renews the same rows, without a deadlock', async () => {
    const schema = uniqueSchema('leases');
    cleanups.push(() => dropSchema(schema));
    const logger = new RecordingLogger();
    // A short lease: the heartbeat runs every 50 ms, over the rows the acks settle.
    const transport = transportOn(schema, 150);
    await transport.connect({ logger });
    cleanups.push(() => transport.close());
    const held: Delivery[] = [];
    const consumer = await transport.consume(
      { group: 'g', patterns: ['a.*'], consumerName: 'c1' },
      (delivery) => void held.push(delivery),
      { capacity: () => 1000, whenReady: async () => undefined },
    );
    cleanups.push(() => consumer.close());
    const sql = new pg.Client({ connectionString: DATABASE_URL });
    await sql.connect();
    cleanups.push(() => sql.end());
    const failures: string[] = [];
    const lost: string[] = [];
    for (let round = 0; round < 150; round++) {
      await Promise.all(Array.from({ length: 500 }, () => transport.publish(createEvent({ type: 'a.b', payload: {} }))));
      await waitFor(() => held.length >= 500, 'every delivery handed out', 10_000);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 60));
      const acks = held.splice(0).toSorted(() => Math.random() - 0.5);
      for (const outcome of await Promise.allSettled(acks.map((delivery) => delivery.ack())))
        if (outcome.status === 'rejected') failures.push(String(outcome.reason));
      // An ack that resolved took effect, even on a row whose lease was renewed while it waited.
      const { rows } = await sql.query<{ event_id: string }>(
        `SELECT event_id FROM "${schema}".deliveries WHERE event_id = ANY ($1) AND state <> 'done'`,
        [acks.map((delivery) => delivery.event.id)],
      );
      lost.push(...rows.map((row) => row.event_id));
    }
    expect(failures).toEqual([]);
    expect(lost).toEqual([]);
    expect(logger.lines.filter((line) => line.level !== 'log').map((line) => line.message)).toEqual([]);
  }, 90_000);

  it('hands out a delivery routed under the group’s earlier patterns, as the table routed it', async () => {
    const schema = uniqueSchema('routed');
    cleanups.push(() => dropSchema(schema));
    const broker = (): EventBroker => {
      const made = new EventBroker({ transport: transportOn(schema, 1000), logger: new RecordingLogger() });
      cleanups.push(() => made.stop());
      return made;
    };
    const before = broker();
    await before.subscribe(['a.*', 'b.*'], () => undefined, { group: 'g' });
    await before.start();
    await before.stop();
    const publisher = broker();
    await publisher.start();
    const event = await publisher.publish(createEvent({ type: 'b.x', payload: {} }));

    const after = broker();
    const handled: string[] = [];
    await after.subscribe(['a.*'], (delivered) => void handled.push(delivered.type), { group: 'g' });
    await after.start();
    await waitFor(() => handled.length === 1, 'the routed delivery to be handled');
    expect(handled).toEqual(['b.x']);
    await waitFor(async () => (await publisher.transport.get(event.id))?.status === 'completed', 'the event to complete');
  });
});
