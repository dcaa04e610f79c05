import type { PoolClient } from 'pg';
import { sleep } from '../../core/async-primitives.js';
import { errorMessage } from '../../core/error-message.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { hasPostgresErrorCode, POSTGRES_ERROR_CODES } from './postgres-errors.js';
import type { SchemaMigration, VersionedTables } from './schema-migration.interface.js';

/** How long a migration keeps trying to lock tables that traffic holds before start fails. */
const LOCK_PATIENCE_MS = 60_000;
const FIRST_PAUSE_MS = 50;
const MAX_PAUSE_MS = 2000;

/**
 * Brings `target`'s tables to their latest version. Tables found current are left alone: one read
 * of the version table, no DDL, no lock on the tables traffic uses, so instances start while
 * others publish and consume. Otherwise the pending migrations run in one transaction under an
 * advisory lock per schema (one starting instance migrates, the others then find it done), after
 * locking the tables they change. That lock waits at most half of `deadlock_timeout`, so that a
 * transaction of the traffic caught waiting on it is never the one rolled back as a deadlock: the
 * migration gives way instead, and tries again after a pause.
 */
export async function migrateSchema(client: PoolClient, target: VersionedTables): Promise<void> {
  const latest = target.migrations.at(-1)?.version ?? 0;
  if ((await versionOf(client, target)) >= latest) return;
  const deadline = Date.now() + LOCK_PATIENCE_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await runPending(client, target);
      return;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const locked = hasPostgresErrorCode(error, POSTGRES_ERROR_CODES.lockNotAvailable);
      if (locked && Date.now() < deadline) {
        await sleep(Math.min(MAX_PAUSE_MS, FIRST_PAUSE_MS * 2 ** attempt) * (0.5 + Math.random() / 2));
        continue;
      }
      const reason = locked ? `other transactions held ${target.tables.join(', ')} for ${LOCK_PATIENCE_MS / 1000} s` : errorMessage(error);
      throw new EventBrokerError(`Could not migrate the ${target.component} tables of PostgreSQL schema "${target.schema}": ${reason}`, {
        cause: error,
      });
    }
  }
}

function versionTable(schema: string): string {
  return `"${schema}".event_broker_migrations`;
}

/** The version recorded for `target`, 0 when none is (a new schema, or one made before versions). */
async function versionOf(client: PoolClient, target: VersionedTables): Promise<number> {
  const { rows } = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [versionTable(target.schema)]);
  if (!rows[0].found) return 0;
  const version = await client.query<{ version: number }>(
    `SELECT coalesce(max(version), 0) AS version FROM ${versionTable(target.schema)} WHERE component = $1`,
    [target.component],
  );
  return version.rows[0].version;
}

async function runPending(client: PoolClient, target: VersionedTables): Promise<void> {
  const { schema } = target;
  await client.query('BEGIN');
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nestjs-event-broker:${schema}`]);
  // Set once the advisory lock is held: waiting for another starting instance is not a deadlock risk.
  await client.query(
    `SELECT set_config('lock_timeout', (SELECT greatest(1, setting::bigint / 2)::text FROM pg_settings WHERE name = 'deadlock_timeout'), true)`,
  );
  await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${versionTable(schema)} (
       component text NOT NULL,
       version integer NOT NULL,
       description text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (component, version)
     )`,
  );
  const current = await versionOf(client, target);
  const pending = target.migrations.filter((migration) => migration.version > current);
  if (pending.length > 0) {
    await lockExistingTables(client, target);
    for (const migration of pending) await apply(client, target, migration);
  }
  await client.query('COMMIT');
}

async function lockExistingTables(client: PoolClient, { schema, tables }: VersionedTables): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(format('%I.%I', $2::text, name)) IS NOT NULL`,
    [tables, schema],
  );
  if (rows.length === 0) return;
  await client.query(`LOCK TABLE ${rows.map(({ name }) => `"${schema}"."${name}"`).join(', ')} IN ACCESS EXCLUSIVE MODE`);
}

async function apply(client: PoolClient, target: VersionedTables, migration: SchemaMigration): Promise<void> {
  for (const statement of migration.statements(target.schema)) await client.query(statement);
  await client.query(`INSERT INTO ${versionTable(target.schema)} (component, version, description) VALUES ($1, $2, $3)`, [
    target.component,
    migration.version,
    migration.description,
  ]);
}
