import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** The shared PostgreSQL of the machine (CI starts it); `DATABASE_URL` points elsewhere. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test run uses. */
export function uniqueSchema(name: string): string {
  return `ebtest_${name}_${randomUUID().slice(0, 8)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
