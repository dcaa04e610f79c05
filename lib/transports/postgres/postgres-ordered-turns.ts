import { PostgresNames } from './postgres-names.js';

/**
 * The sixth version: `ordered_turns`, per ordered group and ordering key, the delivery a claim
 * handed out last. A claim finds whether a key has a delivery out from this one row rather than
 * by reading the key's open deliveries (a hot key's backlog made every claim read all of it). A
 * claim writes the row in the statement that leases the delivery; the ack or dead letter of that
 * delivery deletes it. The deliveries of ordered groups leased when the migration runs are
 * recorded (the one whose lease ends last, for a key with several).
 */
export function orderedTurns(schema: string): string[] {
  const { deliveries, groups, turns } = new PostgresNames(schema);
  return [
    `CREATE TABLE ${turns} (
      group_name text NOT NULL,
      ordering_key text NOT NULL,
      event_id text NOT NULL,
      PRIMARY KEY (group_name, ordering_key)
    )`,
    `INSERT INTO ${turns} (group_name, ordering_key, event_id)
     SELECT DISTINCT ON (d.group_name, d.ordering_key) d.group_name, d.ordering_key, d.event_id
     FROM ${deliveries} d JOIN ${groups} g ON g.name = d.group_name AND g.ordered
     WHERE d.state = 'open' AND d.ordering_key IS NOT NULL AND d.locked_by IS NOT NULL
     ORDER BY d.group_name, d.ordering_key, d.locked_until DESC`,
  ];
}
