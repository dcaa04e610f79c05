import { eventKeyColumn } from './postgres-event-key.js';
import { groupConsumers } from './postgres-group-consumers.js';
import { PostgresNames } from './postgres-names.js';
import { orderedGroups } from './postgres-ordered-groups.js';
import { orderedTurns } from './postgres-ordered-turns.js';
import { statusFromDeliveries } from './postgres-status-view.js';
import type { SchemaMigration, VersionedTables } from './schema-migration.interface.js';

/**
 * The tables of the PostgreSQL transport in `schema`, and their history: a change to them is a new
 * migration at the end of the list (`migrateSchema` runs the ones a schema has not had yet).
 */
export function postgresTables(schema: string): VersionedTables {
  return {
    component: 'events',
    schema,
    tables: ['events', 'groups', 'deliveries', 'group_consumers', 'ordered_turns'],
    migrations: POSTGRES_MIGRATIONS,
  };
}

export const POSTGRES_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    description: 'events, groups and deliveries; the trigger that routes each inserted event',
    statements: firstTables,
  },
  {
    version: 2,
    description: 'status derived from the deliveries (event_history); routing by statement; fewer indexes',
    statements: statusFromDeliveries,
  },
  {
    version: 3,
    description: 'the event key, in events and event_history',
    statements: eventKeyColumn,
  },
  {
    version: 4,
    description: 'ordered groups: groups.ordered, the ordering key of their deliveries and its index',
    statements: orderedGroups,
  },
  {
    version: 5,
    description: 'the running consumers of each group (group_consumers); every delivery but an inline one has its ordering key',
    statements: groupConsumers,
  },
  {
    version: 6,
    description: 'ordered groups: the delivery of each key a claim handed out last (ordered_turns)',
    statements: orderedTurns,
  },
];

/**
 * The first version. Written to also take the tables of the releases before versions existed (the
 * same tables, made at every start, without a version row): each statement leaves them as they are.
 * An event row is routed on insert by a trigger, whoever inserts it: one delivery row per group
 * whose pattern matches the type (the groups the publisher handles inline are inserted as already
 * taken), `completed` at once when no group matches, and a notification that carries the id and
 * type once the transaction commits.
 */
function firstTables(schema: string): string[] {
  const { events, deliveries, groups, channel } = new PostgresNames(schema);
  // Spelt out rather than read from EVENT_SOURCES: a released migration never changes.
  const sources = `'database', 'websocket', 'frontend', 'system', 'internal'`;
  return [
    `CREATE TABLE IF NOT EXISTS ${events} (
      seq bigserial PRIMARY KEY,
      id text NOT NULL UNIQUE,
      source text NOT NULL CHECK (source IN (${sources})),
      type text NOT NULL CHECK (type ~ '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$'),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
      payload jsonb,
      user_id text,
      user_id_is_number boolean NOT NULL DEFAULT false,
      session_id text,
      instance_id text NOT NULL DEFAULT '',
      metadata jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      processed_at timestamptz,
      completed_at timestamptz,
      error text,
      retry_count integer NOT NULL DEFAULT 0,
      skip_groups text[] NOT NULL DEFAULT '{}'
    )`,
    `CREATE INDEX IF NOT EXISTS events_type ON ${events} (type)`,
    `CREATE INDEX IF NOT EXISTS events_source ON ${events} (source)`,
    `CREATE INDEX IF NOT EXISTS events_status ON ${events} (status)`,
    `CREATE INDEX IF NOT EXISTS events_created_at ON ${events} (created_at)`,
    `CREATE INDEX IF NOT EXISTS events_instance_id ON ${events} (instance_id)`,
    `CREATE INDEX IF NOT EXISTS events_user_id ON ${events} (user_id)`,
    `CREATE TABLE IF NOT EXISTS ${groups} (
      name text PRIMARY KEY,
      patterns text[] NOT NULL,
      type_regex text NOT NULL
    )`,
    `CREATE TABLE IF NOT EXISTS ${deliveries} (
      event_id text NOT NULL,
      event_seq bigint NOT NULL,
      group_name text NOT NULL,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'processing', 'done', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      locked_by text,
      locked_until timestamptz,
      error text,
      dead_lettered_at timestamptz,
      PRIMARY KEY (event_id, group_name)
    )`,
    `CREATE INDEX IF NOT EXISTS deliveries_due ON ${deliveries} (group_name, state, next_attempt_at, event_seq)`,
    `CREATE OR REPLACE FUNCTION "${schema}".route_event() RETURNS trigger LANGUAGE plpgsql AS $route$
    DECLARE routed integer;
    BEGIN
      -- An id already stored (a retried publish) is skipped, as ON CONFLICT (id) DO NOTHING would skip the row.
      IF EXISTS (SELECT 1 FROM ${events} WHERE id = NEW.id) THEN
        RETURN NULL;
      END IF;
      INSERT INTO ${deliveries} (event_id, event_seq, group_name)
        SELECT NEW.id, NEW.seq, g.name FROM ${groups} g
        WHERE NEW.type ~ g.type_regex AND NOT (g.name = ANY (NEW.skip_groups))
        ON CONFLICT DO NOTHING;
      GET DIAGNOSTICS routed = ROW_COUNT;
      INSERT INTO ${deliveries} (event_id, event_seq, group_name, state, attempts, locked_by, locked_until)
        SELECT NEW.id, NEW.seq, claimed, 'processing', 1, 'inline', 'infinity' FROM unnest(NEW.skip_groups) AS claimed
        ON CONFLICT DO NOTHING;
      IF routed + coalesce(array_length(NEW.skip_groups, 1), 0) = 0 THEN
        NEW.status := 'completed';
        NEW.completed_at := now();
      END IF;
      PERFORM pg_notify('${channel}', json_build_object('id', NEW.id, 'type', NEW.type)::text);
      RETURN NEW;
    END
    $route$`,
    `DROP TRIGGER IF EXISTS route_event ON ${events}`,
    `CREATE TRIGGER route_event BEFORE INSERT ON ${events} FOR EACH ROW EXECUTE FUNCTION "${schema}".route_event()`,
  ];
}
