import { PostgresNames } from './postgres-names.js';
import { SEQS_PER_NOTIFICATION } from './postgres-status-view.js';

/**
 * The fourth version: ordered groups. A group records whether it is ordered; each delivery of an
 * ordered group carries the key it is ordered by (the event's key, else its id), set by the
 * routing trigger, and the open ones are indexed by group and key, so that a claim finds whether
 * an earlier delivery of the same key is still open. Deliveries of other groups leave it empty,
 * out of that index. The trigger is the second version's, with the key.
 */
export function orderedGroups(schema: string): string[] {
  const { deliveries, groups, channel } = new PostgresNames(schema);
  return [
    `ALTER TABLE ${groups} ADD COLUMN ordered boolean NOT NULL DEFAULT false`,
    `ALTER TABLE ${deliveries} ADD COLUMN ordering_key text`,
    `CREATE INDEX deliveries_open_key ON ${deliveries} (group_name, ordering_key, event_seq)
       WHERE state = 'open' AND ordering_key IS NOT NULL`,
    `CREATE OR REPLACE FUNCTION "${schema}".route_events() RETURNS trigger LANGUAGE plpgsql AS $route$
    BEGIN
      INSERT INTO ${deliveries} (event_id, event_seq, group_name, ordering_key)
        SELECT n.id, n.seq, g.name, CASE WHEN g.ordered THEN coalesce(n.key, n.id) END
        FROM inserted n JOIN ${groups} g ON n.type ~ g.type_regex AND NOT (g.name = ANY (n.skip_groups))
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
  ];
}
