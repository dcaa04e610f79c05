import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent } from '../../../lib/index.js';
import { PostgresTransport } from '../../../lib/postgres.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { startTestProcess, type TestProcess } from '../../support/test-process.js';
import { waitFor } from '../../support/wait-for.js';

const INSTANCE_SCRIPT = fileURLToPath(new URL('../../support/postgres-instance-process.mjs', import.meta.url));
const GROUPS = ['billing', 'audit'];
const RESTARTS = 20;
/**
 * 4 publishing loops, as 4 requests of an app would, each publishing a batch of 10 events one
 * after the other every 200 ms: 200 events/s. A batch of awaited publishes adds up their
 * latencies, so that the ~100 ms pauses a loaded machine gives a process now and then stay well
 * within 5 times the median batch, while a publish waiting on a lock (1–2 s) does not.
 */
const PUBLISHERS = 4;
const BATCH_SIZE = 10;
const BATCH_INTERVAL_MS = 200;
const EVENTS_PER_SECOND = (PUBLISHERS * BATCH_SIZE * 1000) / BATCH_INTERVAL_MS;

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

interface InstanceRecord {
  started?: number;
  failed?: number;
  message?: string;
  warn?: string;
  error?: string;
  done?: boolean;
}

/** What an instance process printed: its starts, failed starts, warnings and errors. */
function records(instance: TestProcess): InstanceRecord[] {
  return instance.lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as InstanceRecord);
}

function median(values: readonly number[]): number {
  return values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
}

describe('PostgreSQL instances sharing one schema', () => {
  it(`start and stop ${RESTARTS} times while another publishes ${EVENTS_PER_SECOND} events/s: no failed start, no deadlock, no slowed publish`, async () => {
    const schema = uniqueSchema('instances');
    cleanups.push(() => dropSchema(schema));
    const logger = new RecordingLogger();
    const publisher = new EventBroker({
      transport: new PostgresTransport({ connectionString: DATABASE_URL, schema, pollIntervalMs: 100 }),
      instanceId: 'publisher',
      logger,
    });
    for (const group of GROUPS) await publisher.subscribe('load.*', () => undefined, { group });
    await publisher.start();
    cleanups.push(() => publisher.stop());
    // A second consuming instance for the whole run; a third one started and stopped again and
    // again once the publisher has run for a second. Both processes are up before it publishes,
    // so that booting Node does not take the CPU from the publisher while its batches are timed.
    const steady = await startTestProcess(INSTANCE_SCRIPT, [DATABASE_URL, schema, '0', '1', '600000', ...GROUPS], cleanups);
    await waitFor(() => records(steady).some((record) => record.started !== undefined), 'the steady instance to start', 15_000);
    const restarting = await startTestProcess(
      INSTANCE_SCRIPT,
      [DATABASE_URL, schema, '1000', String(RESTARTS), '250', ...GROUPS],
      cleanups,
    );

    const batchMs: number[] = [];
    let published = 0;
    const publishing = new AbortController();
    const firstBatchAt = performance.now();
    const publishLoop = async (): Promise<void> => {
      for (let batch = 1; !publishing.signal.aborted; batch++) {
        const began = performance.now();
        for (let n = 0; n < BATCH_SIZE; n++) await publisher.publish(createEvent({ type: 'load.tick', payload: { n: published++ } }));
        batchMs.push(performance.now() - began);
        const nextBatchAt = firstBatchAt + batch * BATCH_INTERVAL_MS;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextBatchAt - performance.now())));
      }
    };
    const publishLoops = Promise.all(Array.from({ length: PUBLISHERS }, publishLoop));
    await waitFor(() => records(restarting).some((record) => record.done), `${RESTARTS} starts and stops`, 40_000);
    publishing.abort();
    await publishLoops;
    const publishingMs = performance.now() - firstBatchAt;
    await steady.terminate();

    const sql = new pg.Client({ connectionString: DATABASE_URL });
    await sql.connect();
    cleanups.push(() => sql.end());
    const handled = async (): Promise<Record<string, number>> => {
      const { rows } = await sql.query<{ group_name: string; done: number }>(
        `SELECT group_name, count(*)::int AS done FROM "${schema}".deliveries WHERE state = 'done' GROUP BY group_name`,
      );
      return Object.fromEntries(GROUPS.map((group) => [group, rows.find((row) => row.group_name === group)?.done ?? 0]));
    };
    const everyGroup = Object.fromEntries(GROUPS.map((group) => [group, published]));
    await waitFor(async () => JSON.stringify(await handled()) === JSON.stringify(everyGroup), 'every event handled by both groups', 15_000);
    const { rows } = await sql.query<{ completed: number }>(
      `SELECT count(*)::int AS completed FROM "${schema}".event_history WHERE status = 'completed'`,
    );
    expect(rows[0].completed).toBe(published);

    const restarts = records(restarting);
    expect(restarts.filter((record) => record.failed !== undefined)).toEqual([]);
    expect(restarts.filter((record) => record.started !== undefined)).toHaveLength(RESTARTS);
    const complaints = logger.lines.filter((line) => line.level !== 'log').map((line) => line.message);
    for (const record of [...records(steady), ...restarts]) complaints.push(...[record.warn ?? [], record.error ?? []].flat());
    expect(complaints).toEqual([]);
    // The publishers kept their pace, and no batch was held up.
    expect(published / (publishingMs / 1000)).toBeGreaterThan(0.8 * EVENTS_PER_SECOND);
    const slowest = Math.max(...batchMs);
    expect(slowest, `slowest publish batch ${slowest.toFixed(1)} ms, median ${median(batchMs).toFixed(1)} ms`).toBeLessThanOrEqual(
      5 * median(batchMs),
    );
  }, 60_000);
});
