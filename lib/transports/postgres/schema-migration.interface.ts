/**
 * One step of the history of a schema's tables: run once, in version order, and never edited once
 * released (a change to the tables is a new step at the end of the list).
 */
export interface SchemaMigration {
  /** 1, 2, 3…: the version of the tables once this step has run. */
  readonly version: number;
  /** What the step changes, recorded with it in the version table. */
  readonly description: string;
  /** Its statements, for the tables in `schema`. They run in one transaction. */
  readonly statements: (schema: string) => readonly string[];
}

/** The tables of one part of the package in one schema, and their history. */
export interface VersionedTables {
  /** The part they belong to (`events`, `outbox`), its key in the version table. */
  readonly component: string;
  readonly schema: string;
  /** Every table the migrations change, locked before they run (those that exist). */
  readonly tables: readonly string[];
  /** Oldest first, versions 1, 2, 3… without a gap. */
  readonly migrations: readonly SchemaMigration[];
}
