import { PostgresNames } from './postgres-names.js';

/**
 * The second version: the deliveries table is the state, the history a view over it. Nothing
 * writes the event row after its insert any more: its status, timestamps, error and retries are
 * derived when read, from its delivery rows (`event_history`); the event's own columns only hold
 * what `updateStatus` set, which the view shows over the derived values. A delivery is `open`
 * (processing while leased, pending otherwise), `done` or `failed`, so a claim, a lease renewal
 * and a retry change no indexed column (heap-only updates), and only open and failed rows are in
 * the indexes the consumers and dead letters read. Inserted events are routed by one trigger per
 * statement and one notification per 300 of them, carrying their `seq`s.
 *
 * Data of the first version is kept: an open delivery stays open (leased if it was processing),
 * its start and end are taken from its event's timestamps, and an event keeps the status it had as
 * an override where it is not the one its deliveries give (a status set by hand), except a status
 * that was only on the way (pending, processing), which the deliveries now give.
 */
export function statusFromDeliveries(schema: string): string[] {
  const { events, deliveries, groups, history, channel } = new PostgresNames(schema);
  return [
    `ALTER TABLE ${deliveries} ADD COLUMN started_at timestamptz, ADD COLUMN done_at timestamptz`,
    `UPDATE ${deliveries} d
     SET started_at = CASE WHEN d.attempts > 0 OR d.state <> 'pending' THEN coalesce(e.processed_at, e.created_at) END,
       done_at = CASE WHEN d.state = 'done' THEN coalesce(e.completed_at, e.processed_at, e.created_at) END
     FROM ${events} e WHERE e.id = d.event_id AND (d.attempts > 0 OR d.state <> 'pending')`,
    `ALTER TABLE ${deliveries} DROP CONSTRAINT deliveries_state_check`,
    `UPDATE ${deliveries} SET state = 'open' WHERE state IN ('pending', 'processing')`,
    `ALTER TABLE ${deliveries} ADD CONSTRAINT deliveries_state_check CHECK (state IN ('open', 'done', 'failed')),
       ALTER COLUMN state SET DEFAULT 'open', SET (fillfactor = 80)`,
    `DROP INDEX "${schema}".deliveries_due`,
    `CREATE INDEX deliveries_open ON ${deliveries} (group_name, event_seq) WHERE state = 'open'`,
    `CREATE INDEX deliveries_failed ON ${deliveries} (dead_lettered_at) WHERE state = 'failed'`,
    `ALTER TABLE ${events} ALTER COLUMN status DROP NOT NULL, ALTER COLUMN status DROP DEFAULT,
       ALTER COLUMN retry_count DROP NOT NULL, ALTER COLUMN retry_count DROP DEFAULT`,
    // A regular expression cannot use a b-tree index, and a few sources, instances or statuses
    // select too much for one: every insert paid for them. A user id is selective; most events
    // without one stay out of its index.
    ...['events_type', 'events_source', 'events_status', 'events_instance_id', 'events_user_id'].map(
      (index) => `DROP INDEX "${schema}".${index}`,
    ),
    `CREATE INDEX events_user_id ON ${events} (user_id) WHERE user_id IS NOT NULL`,
    // The newest-first window reads this one backwards; a status set by hand is rare, and found here.
    `DROP INDEX "${schema}".events_created_at`,
    `CREATE INDEX events_created_at ON ${events} (created_at, seq)`,
    `CREATE INDEX events_status_set ON ${events} (seq) WHERE status IS NOT NULL`,
    `CREATE VIEW ${history} AS
     SELECT e.seq, e.id, e.source, e.type, e.payload, e.user_id, e.user_id_is_number, e.session_id, e.instance_id,
       e.metadata, e.created_at, coalesce(e.status, ${DERIVED_STATUS}) AS status,
       coalesce(e.processed_at, d.first_started) AS processed_at,
       CASE WHEN coalesce(e.status, ${DERIVED_STATUS}) = 'completed' THEN coalesce(e.completed_at, d.last_done, e.created_at) END AS completed_at,
       coalesce(e.error, d.error) AS error,
       greatest(e.retry_count, d.retries, 0) AS retry_count
     FROM ${events} e CROSS JOIN LATERAL (${deliveryFacts(deliveries)}) d`,
    `UPDATE ${events} e SET status = NULL
     WHERE e.status IN ('pending', 'processing') OR e.status = (SELECT ${DERIVED_STATUS} FROM (${deliveryFacts(deliveries)}) d)`,
    `DROP TRIGGER route_event ON ${events}`,
    `DROP FUNCTION "${schema}".route_event()`,
    `CREATE FUNCTION "${schema}".route_events() RETURNS trigger LANGUAGE plpgsql AS $route$
    BEGIN
      INSERT INTO ${deliveries} (event_id, event_seq, group_name)
        SELECT n.id, n.seq, g.name FROM inserted n JOIN ${groups} g ON n.type ~ g.type_regex AND NOT (g.name = ANY (n.skip_groups))
        ON CONFLICT DO NOTHING;
      INSERT INTO ${deliveries} (event_id, event_seq, group_name, attempts, locked_by, locked_until, started_at)
        SELECT n.id, n.seq, claimed, 1, 'inline', 'infinity', now() FROM inserted n CROSS JOIN unnest(n.skip_groups) AS claimed
        ON CONFLICT DO NOTHING;
      PERFORM pg_notify('${channel}', string_agg(seq::text, ',' ORDER BY seq))
        FROM (SELECT seq, (row_number() OVER (ORDER BY seq) - 1) / ${SEQS_PER_NOTIFICATION} AS part FROM inserted) numbered
        GROUP BY part;
      RETURN NULL;
    END
    $route$`,
    `CREATE TRIGGER route_events AFTER INSERT ON ${events} REFERENCING NEW TABLE AS inserted
       FOR EACH STATEMENT EXECUTE FUNCTION "${schema}".route_events()`,
  ];
}

/** At most 20 characters each with its comma: a notification stays under PostgreSQL's 8000 bytes. */
export const SEQS_PER_NOTIFICATION = 300;

/** An event's status as its deliveries give it: any failed, failed; none open, completed; any begun, processing. */
export const DERIVED_STATUS = `CASE WHEN d.failed > 0 THEN 'failed' WHEN d.open = 0 THEN 'completed'
  WHEN d.first_started IS NOT NULL THEN 'processing' ELSE 'pending' END`;

/**
 * What the delivery rows of event `e` say, in one row (a row of zeros and nulls when it has
 * none): how many are failed and open, when the first began and the last was done, the error of
 * the newest dead letter, and the most failed attempts (a pending retry has failed every attempt
 * so far; otherwise the last attempt is not a failed one).
 */
export function deliveryFacts(deliveries: string): string {
  return `SELECT count(*) FILTER (WHERE state = 'failed') AS failed, count(*) FILTER (WHERE state = 'open') AS open,
       min(started_at) AS first_started, max(done_at) AS last_done,
       (array_agg(error ORDER BY dead_lettered_at DESC) FILTER (WHERE state = 'failed'))[1] AS error,
       max(attempts - CASE WHEN state = 'open' AND locked_by IS NULL THEN 0 ELSE 1 END) AS retries
     FROM ${deliveries} WHERE event_id = e.id`;
}
