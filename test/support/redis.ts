import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { partitionOf } from '../../lib/core/partition-key.js';

/** The shared Redis of the machine (CI starts it); `REDIS_URL` points elsewhere. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run uses. */
export function uniquePrefix(name: string): string {
  return `ebtest-${name}-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `prefix`, on the shared Redis or on `server` (a node of a cluster: the keys it serves). */
export async function deleteKeys(prefix: string, server?: Redis): Promise<void> {
  const client = server ?? new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      // One DEL per key, pipelined: in a cluster, the keys of one DEL must share a slot.
      const pipeline = client.pipeline();
      for (const key of keys) pipeline.del(key);
      await pipeline.exec();
    } while (cursor !== '0');
  } finally {
    if (!server) client.disconnect();
  }
}

/** The stream another program appends an event with partition key `key` to, as the README's key layout says. */
export function partitionStream(keyPrefix: string, partitions: number, key: string): string {
  return partitions === 1 ? `${keyPrefix}:stream` : `${keyPrefix}:{${keyPrefix}:${partitionOf(key, partitions)}}:stream`;
}
