import { PostgresNames } from './postgres-names.js';
import { SEQS_PER_NOTIFICATION } from './postgres-status-view.js';

/**
 * The fifth version: the running consumers of each group, and an ordering key on every delivery.
 *
 * `group_consumers` holds one row per consumer of a group with its `ordered` setting, alive until
 * `alive_until`, which a running consumer keeps moving forward; a consumer that orders the group
 * otherwise than one alive is refused. The fourth version only knew the consumers that held a
 * delivery, so an idle instance could be overruled.
 *
 * The routing trigger writes the ordering key (the event's key, else its id) for every group, not
 * only for the groups ordered when the event was routed: a group's setting can then change without
 * rewriting its deliveries, and an event whose insert raced such a change has its key all the same.
 * The deliveries the publisher handles inline keep none: leased for ever, they would hold their key
 * back. The open and failed deliveries routed without a key take it now (those handled inline
 * left out), so that an ordered claim, which never hands out one without a key, finds them.
 */
export function groupConsumers(schema: string): string[] {
  const { events, deliveries, groups, consumers, channel } = new PostgresNames(schema);
  return [
    `CREATE TABLE ${consumers} (
      group_name text NOT NULL,
      consumer_name text NOT NULL,
      ordered boolean NOT NULL,
      alive_until timestamptz NOT NULL,
      PRIMARY KEY (group_name, consumer_name)
    )`,
    `UPDATE ${deliveries} d SET ordering_key = coalesce(e.key, e.id) FROM ${events} e
     WHERE e.id = d.event_id AND d.ordering_key IS NULL
       AND (d.state = 'failed' OR (d.state = 'open' AND d.locked_by IS DISTINCT FROM 'inline'))`,
    `CREATE OR REPLACE FUNCTION "${schema}".route_events() RETURNS trigger LANGUAGE plpgsql AS $route$
    BEGIN
      INSERT INTO ${deliveries} (event_id, event_seq, group_name, ordering_key)
        SELECT n.id, n.seq, g.name, coalesce(n.key, n.id)
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
