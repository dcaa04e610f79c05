// Server operations per event on each side of a throughput row, measured while the side runs: what
// the bookkeeping costs next to the engine's own work.
import { tracingChannel } from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import type { Measurement, Operations } from './measure.js';

/** How the column counts, by transport (the first word of a row's name). */
export const OPERATIONS_LEGEND: Record<string, string> = {
  redis:
    'redis: commands sent by the clients (ioredis tracing channel; an EVALSHA is one) and commands run by the server\n' +
    "         (INFO commandstats delta, each command a script runs included; on a shared server, other clients' too)",
  nats: 'nats: messages the client connection sent and their bytes, payload and headers (nc.stats()); the JSON also has what it received',
  postgres: "postgres: queries sent (pg Client.query calls) and rows written (pg_stat_user_tables ins+upd+del in the side's schema)",
};

function perEvent(measurement: Measurement, events: number, totals: Operations): Measurement {
  const operations: Operations = {};
  for (const [name, total] of Object.entries(totals)) {
    const value = total / events;
    operations[name] = value >= 100 ? Math.round(value) : Math.round(value * 100) / 100;
  }
  return { ...measurement, operations };
}

/** The counts the table shows; the JSON has every count. */
const SHOWN = ['sent', 'run', 'msg', 'B', 'queries', 'writes'];

/** `6.02 sent, 17.1 run`: the counts of one side, as the table shows them. */
export function formatOperations(operations: Operations | undefined): string {
  if (!operations) return '';
  return SHOWN.filter((name) => operations[name] !== undefined)
    .map((name) => `${operations[name]} ${name}`)
    .join(', ');
}

/** Calls by command name (`xadd`, `client|setname`), from INFO commandstats. */
async function commandCalls(client: Redis): Promise<Map<string, number>> {
  const info = await client.info('commandstats');
  return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map(([, name, calls]) => [name, Number(calls)]));
}

/**
 * Runs one side of a Redis row; `events` is what it published. Besides `sent` and `run`, the
 * JSON gets `run.<command>`: what the server ran of each command.
 */
export async function countRedis(url: string, events: number, run: () => Promise<Measurement>): Promise<Measurement> {
  const stats = new Redis(url);
  const before = await commandCalls(stats);
  let sent = 0;
  const onCommand = (): void => void sent++;
  const commands = tracingChannel('ioredis:command');
  commands.start.subscribe(onCommand);
  let measurement: Measurement;
  try {
    measurement = await run();
  } finally {
    commands.start.unsubscribe(onCommand);
  }
  const after = await commandCalls(stats);
  stats.disconnect();
  // The first INFO is counted in the second one's answer.
  after.set('info', (after.get('info') ?? 0) - 1);
  const totals: Operations = { sent, run: 0 };
  for (const [name, calls] of after) {
    const ran = calls - (before.get(name) ?? 0);
    if (ran === 0) continue;
    totals.run += ran;
    totals[`run.${name}`] = ran;
  }
  return perEvent(measurement, events, totals);
}

/** What `connection` sent and received, per event; read once the side is done with it. */
export function countNats(connection: NatsConnection, events: number, measurement: Measurement): Measurement {
  const { outMsgs, outBytes, inMsgs, inBytes } = connection.stats();
  return perEvent(measurement, events, { msg: outMsgs, B: outBytes, msgIn: inMsgs, BIn: inBytes });
}

async function rowsWritten(pool: pg.Pool, schema: string): Promise<number> {
  const { rows } = await pool.query<{ writes: number }>(
    'SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::int AS writes FROM pg_stat_user_tables WHERE schemaname = $1',
    [schema],
  );
  return rows[0].writes;
}

/**
 * Runs one side of a PostgreSQL row whose tables are all in `schema` and whose connections carry
 * `schema` as application_name and are closed when `run` returns: a backend publishes its table
 * counts when it exits (a live one only every few seconds), so they are read once every backend is
 * gone and the counts hold still.
 */
export async function countPostgres(pool: pg.Pool, schema: string, events: number, run: () => Promise<Measurement>): Promise<Measurement> {
  const query = pg.Client.prototype.query;
  let queries = 0;
  pg.Client.prototype.query = function (this: pg.Client, ...args: Parameters<typeof query>) {
    queries++;
    return query.apply(this, args);
  } as typeof query;
  let measurement: Measurement;
  try {
    measurement = await run();
  } finally {
    pg.Client.prototype.query = query;
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await pool.query<{ live: number }>('SELECT count(*)::int AS live FROM pg_stat_activity WHERE application_name = $1', [
      schema,
    ]);
    if (rows[0].live === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  let writes = await rowsWritten(pool, schema);
  for (let settled = -1; settled !== writes;) {
    settled = writes;
    await new Promise((resolve) => setTimeout(resolve, 100));
    writes = await rowsWritten(pool, schema);
  }
  return perEvent(measurement, events, { queries, writes });
}
