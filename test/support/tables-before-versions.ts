// The tables as the releases before schema versions made them, at every start: the statements of
// PostgresTransport and OutboxTransport then, kept as they were, for the tests of the upgrade.

/** What PostgresTransport ran at every start before schema versions. */
export function transportTablesBeforeVersions(schema: string): string[] {
  const events = `"${schema}".events`;
  const deliveries = `"${schema}".deliveries`;
  const groups = `"${schema}".groups`;
  const channel = `${schema}_events`;
  const sources = `'database', 'websocket', 'frontend', 'system', 'internal'`;
  return [
    `CREATE SCHEMA IF NOT EXISTS "${schema}"`,
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

/** What OutboxTransport ran at every start before schema versions. */
export function outboxTableBeforeVersions(schema: string): string[] {
  const table = `"${schema}".outbox`;
  return [
    `CREATE SCHEMA IF NOT EXISTS "${schema}"`,
    `CREATE TABLE IF NOT EXISTS ${table} (
         seq bigserial PRIMARY KEY,
         id text NOT NULL,
         event jsonb NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now(),
         sent_at timestamptz
       )`,
    `CREATE INDEX IF NOT EXISTS outbox_unsent ON ${table} (seq) WHERE sent_at IS NULL`,
  ];
}
