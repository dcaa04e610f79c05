import type { SchemaMigration, VersionedTables } from '../postgres/schema-migration.interface.js';

/**
 * The outbox table in `schema` and its history: a change to it is a new migration at the end of
 * the list (`migrateSchema` runs the ones a schema has not had yet).
 */
export function outboxTables(schema: string): VersionedTables {
  return { component: 'outbox', schema, tables: ['outbox'], migrations: OUTBOX_MIGRATIONS };
}

const OUTBOX_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    description: 'the outbox table and its index of unsent rows',
    // Also takes the table of the releases before versions existed, made the same way at every start.
    statements: (schema) => [
      `CREATE TABLE IF NOT EXISTS "${schema}".outbox (
         seq bigserial PRIMARY KEY,
         id text NOT NULL,
         event jsonb NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now(),
         sent_at timestamptz
       )`,
      `CREATE INDEX IF NOT EXISTS outbox_unsent ON "${schema}".outbox (seq) WHERE sent_at IS NULL`,
    ],
  },
];
