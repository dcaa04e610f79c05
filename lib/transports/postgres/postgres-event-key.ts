import { PostgresNames } from './postgres-names.js';
import { DERIVED_STATUS, deliveryFacts } from './postgres-status-view.js';

/**
 * The third version: the event's key (what it is partitioned and ordered by), in a nullable
 * column of its own that events published before it, and rows another program inserts without
 * one, leave empty. The history view shows it as its last column (a view only takes new columns
 * at the end); the rest of the view is the second version's.
 */
export function eventKeyColumn(schema: string): string[] {
  const { events, deliveries, history } = new PostgresNames(schema);
  return [
    `ALTER TABLE ${events} ADD COLUMN key text`,
    `CREATE OR REPLACE VIEW ${history} AS
     SELECT e.seq, e.id, e.source, e.type, e.payload, e.user_id, e.user_id_is_number, e.session_id, e.instance_id,
       e.metadata, e.created_at, coalesce(e.status, ${DERIVED_STATUS}) AS status,
       coalesce(e.processed_at, d.first_started) AS processed_at,
       CASE WHEN coalesce(e.status, ${DERIVED_STATUS}) = 'completed' THEN coalesce(e.completed_at, d.last_done, e.created_at) END AS completed_at,
       coalesce(e.error, d.error) AS error,
       greatest(e.retry_count, d.retries, 0) AS retry_count,
       e.key
     FROM ${events} e CROSS JOIN LATERAL (${deliveryFacts(deliveries)}) d`,
  ];
}
