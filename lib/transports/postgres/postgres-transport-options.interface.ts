import type { Pool, PoolConfig } from 'pg';

export interface PostgresTransportOptions {
  /** `postgres://user:password@host:port/database`. */
  connectionString?: string;
  /** `pg.Pool` options, when not using `connectionString`. */
  pool?: PoolConfig;
  /** A pool to use instead of creating one; the transport never ends it. */
  client?: Pool;
  /** The schema of the tables (default `event_broker`); created if missing. */
  schema?: string;
  /** How often consumers look for due retries and expired leases without a notification (default 1000 ms). */
  pollIntervalMs?: number;
  /** A delivery not settled within this time is taken over by another consumer (default 30 000 ms). */
  ackTimeoutMs?: number;
  /** Completed events older than this many days are deleted (default 7). */
  retentionDays?: number;
  /** How often the retention cleanup runs (default one hour). */
  cleanupIntervalMs?: number;
}
