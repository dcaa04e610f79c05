import type { Pool, PoolConfig } from 'pg';

export interface OutboxOptions {
  /** The database of the business transactions: `postgres://…`. */
  connectionString?: string;
  pool?: PoolConfig;
  /** A pool to use instead of creating one; never ended by the outbox. */
  client?: Pool;
  /** Schema of the `outbox` table (default `event_broker`). */
  schema?: string;
  /** Rows forwarded per relay transaction (default 100). */
  batchSize?: number;
  /** How often the relay looks for rows without a notification (default 1000 ms). */
  pollIntervalMs?: number;
}
