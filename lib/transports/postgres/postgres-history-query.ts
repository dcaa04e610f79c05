import pg from 'pg';
import type { EventFilter } from '../../core/event-history.interface.js';
import { patternsToRegExpSource } from '../../core/match-pattern.js';
import { DEFAULT_LIST_LIMIT } from '../event-filter.js';
import type { PostgresNames } from './postgres-names.js';

const { escapeLiteral } = pg;

/**
 * The `list` query of a checked `filter`, as one simple query: the window counted back from the
 * newest by `(created_at, seq)`, returned oldest first; each row's status read from its deliveries.
 *
 * A status other than completed is only ever given by an open or failed delivery row, or set by
 * hand: those filters read the events of the open (or failed) rows and of the statuses set, from
 * their own indexes, instead of every event. JIT compilation is off: the planner prices a window
 * that reads each event's deliveries as if it read them all, and would compile for longer than the
 * query runs.
 */
export function listQuery({ events, deliveries, history }: PostgresNames, filter: EventFilter): string {
  const conditions: string[] = [];
  if (filter.source !== undefined) conditions.push(`source = ${escapeLiteral(filter.source)}`);
  if (filter.type !== undefined) conditions.push(`type ~ ${escapeLiteral(patternsToRegExpSource([filter.type]))}`);
  if (filter.status !== undefined) {
    conditions.push(`status = ${escapeLiteral(filter.status)}`);
    if (filter.status !== 'completed') {
      const state = filter.status === 'failed' ? 'failed' : 'open';
      conditions.push(
        `seq IN (SELECT event_seq FROM ${deliveries} WHERE state = '${state}' UNION SELECT seq FROM ${events} WHERE status IS NOT NULL)`,
      );
    }
  }
  if (filter.instanceId !== undefined) conditions.push(`instance_id = ${escapeLiteral(filter.instanceId)}`);
  if (filter.userId !== undefined) conditions.push(`user_id = ${escapeLiteral(String(filter.userId))}`);
  if (filter.since !== undefined) conditions.push(`created_at >= ${escapeLiteral(filter.since.toISOString())}::timestamptz`);
  if (filter.until !== undefined) conditions.push(`created_at <= ${escapeLiteral(filter.until.toISOString())}::timestamptz`);
  return `SELECT set_config('jit', 'off', true);
    SELECT * FROM (
      SELECT * FROM ${history} ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY created_at DESC, seq DESC LIMIT ${filter.limit ?? DEFAULT_LIST_LIMIT} OFFSET ${filter.offset ?? 0}
    ) newest ORDER BY created_at, seq`;
}
