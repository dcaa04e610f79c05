import pg from 'pg';
import type { PostgresNames } from './postgres-names.js';
import { QUICK_COMMIT } from './postgres-quick-commit.js';
import { CLAIMED_COLUMNS } from './postgres-rows.js';

const { escapeLiteral } = pg;

/** What an ordered group's claim takes: up to `count` deliveries for `consumer`, leased for `leaseMs`. */
export interface OrderedClaim {
  group: string;
  count: number;
  consumer: string;
  leaseMs: number;
  /** The last key this consumer claimed: the walk over the keys starts after it, and wraps around once. */
  after?: string;
}

/**
 * The claim of an ordered group, run under the group's advisory lock (claims of the group one at a
 * time). It visits keys, not deliveries: a loose index scan of the group's open deliveries by
 * ordering key (each step one probe of `deliveries_open_key` for the next key), from the key after
 * `after` to the end, then from the first key up to `after`; for each key its head, the first open
 * delivery by `seq` (one more probe). A head is due when it is not leased and its backoff is over,
 * or its lease ran out; its key is busy while the delivery `ordered_turns` recorded as handed out
 * last is another one, still open and under a live lease (one whose event committed after an
 * earlier one of its key). The walk stops at `count` due heads of free keys: PostgreSQL evaluates
 * the recursive walk only as far as the `LIMIT` pulls it, so a hot key's backlog costs two probes,
 * not a read of its rows. A due head is locked (`SKIP LOCKED`: one being settled is passed by, and
 * the lock rechecks it on its latest version) and updated by its address (`ctid`), which the head's
 * probe found: a join by key left the planner free to find it through another index, reading the
 * group's backlog when the table's statistics were young. Due checks and lease ends are reckoned
 * from the clock read once as the statement starts, after the lock. The statement records the
 * key's turn for each delivery it takes, and returns, beside the claimed events, the last key it
 * took in the walk's order (`last_key`), where the consumer's next claim starts.
 */
export function orderedClaimStatement(names: PostgresNames, claim: OrderedClaim): string {
  const { events, deliveries, turns } = names;
  const group = escapeLiteral(claim.group);
  const now = '(SELECT at FROM claimed_at)';
  const due = (row: string) =>
    `CASE WHEN ${row}.locked_by IS NULL THEN ${row}.next_attempt_at <= ${now} ELSE ${row}.locked_until < ${now} END`;
  const after = claim.after === undefined ? undefined : escapeLiteral(claim.after);
  const walks =
    after === undefined
      ? [walk('after_last', deliveries, group)]
      : [walk('after_last', deliveries, group, `> ${after}`), walk('up_to_last', deliveries, group, undefined, after)];
  const laps = walks.map((_walk, lap) => `SELECT ${lap} AS lap, ordering_key FROM ${lap === 0 ? 'after_last' : 'up_to_last'}`);
  return `WITH RECURSIVE claimed_at AS MATERIALIZED (SELECT clock_timestamp() AS at),
     ${walks.join(',\n')},
     heads AS MATERIALIZED (
       SELECT w.lap, w.ordering_key, taken.row FROM (${laps.join(' UNION ALL ')}) w
       CROSS JOIN LATERAL (
         SELECT d.ctid AS row, d.event_id, d.locked_by, d.locked_until, d.next_attempt_at FROM ${deliveries} d
         WHERE d.group_name = ${group} AND d.ordering_key = w.ordering_key AND d.state = 'open'
         ORDER BY d.event_seq LIMIT 1
       ) h
       CROSS JOIN LATERAL (
         SELECT d.ctid AS row FROM ${deliveries} d WHERE d.ctid = h.row AND d.state = 'open' AND ${due('d')}
         FOR UPDATE OF d SKIP LOCKED
       ) taken
       WHERE w.ordering_key IS NOT NULL AND ${due('h')}
         AND NOT coalesce((
           SELECT t.event_id <> h.event_id AND o.state = 'open' AND o.locked_by IS NOT NULL AND o.locked_until >= ${now}
           FROM ${turns} t JOIN ${deliveries} o ON o.group_name = t.group_name AND o.event_id = t.event_id
           WHERE t.group_name = ${group} AND t.ordering_key = w.ordering_key
         ), false)
       LIMIT ${Math.trunc(claim.count)}
     ), taken AS (
       UPDATE ${deliveries} d SET attempts = d.attempts + 1, locked_by = ${escapeLiteral(claim.consumer)},
         started_at = coalesce(d.started_at, ${now}),
         locked_until = ${now} + make_interval(secs => ${Math.trunc(claim.leaseMs)}::double precision / 1000)
       WHERE d.ctid = ANY (ARRAY(SELECT row FROM heads))
       RETURNING d.event_id, d.attempts, d.ordering_key
     ), turned AS (
       INSERT INTO ${turns} (group_name, ordering_key, event_id) SELECT ${group}, ordering_key, event_id FROM taken
       ON CONFLICT (group_name, ordering_key) DO UPDATE SET event_id = EXCLUDED.event_id
     ), quick_commit AS (${QUICK_COMMIT})
     SELECT ${CLAIMED_COLUMNS}, taken.attempts, (SELECT ordering_key FROM heads ORDER BY lap DESC, ordering_key DESC LIMIT 1) AS last_key
     FROM taken JOIN ${events} e ON e.id = taken.event_id CROSS JOIN quick_commit ORDER BY e.seq`;
}

/**
 * The keys of the group's open deliveries in order, one index probe each: those `from` (a
 * comparison with the first key), all of them without it, up to `upTo` included. Its last row's
 * key is null (no key after it).
 */
function walk(name: string, deliveries: string, group: string, from?: string, upTo?: string): string {
  const next = (row: string, lower?: string) =>
    `SELECT ${row}.ordering_key FROM ${deliveries} ${row}
       WHERE ${row}.group_name = ${group} AND ${row}.state = 'open' AND ${row}.ordering_key IS NOT NULL
         ${lower ? `AND ${row}.ordering_key ${lower}` : ''} ${upTo ? `AND ${row}.ordering_key <= ${upTo}` : ''}
       ORDER BY ${row}.ordering_key LIMIT 1`;
  return `${name}(ordering_key) AS (
       (${next('f', from)})
       UNION ALL
       SELECT (${next('n', '> w.ordering_key')}) FROM ${name} w WHERE w.ordering_key IS NOT NULL
     )`;
}
