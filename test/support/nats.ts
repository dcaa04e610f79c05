import { randomUUID } from 'node:crypto';
import { connect } from 'nats';
import { partitionOf } from '../../lib/core/partition-key.js';

/** The shared NATS of the machine (CI starts it); `NATS_URL` points elsewhere. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** A stream name and a subject prefix no other test run uses. */
export function uniqueStream(name: string): { stream: string; subjectPrefix: string } {
  const id = randomUUID().slice(0, 8);
  return { stream: `EBTEST_${name}_${id}`, subjectPrefix: `ebtest-${name}-${id}` };
}

/** The subject another program publishes an event of `key` on, with `partitions` partitions. */
export function partitionSubject(subjectPrefix: string, partitions: number, key: string, sourceAndType: string): string {
  return partitions === 1 ? `${subjectPrefix}.${sourceAndType}` : `${subjectPrefix}.p${partitionOf(key, partitions)}.${sourceAndType}`;
}

/**
 * Deletes the streams (events, the partitions' events, dead letters, progress, the groups bucket
 * and the history bucket of earlier versions) of `stream`.
 */
export async function deleteStreams(stream: string, servers: string | string[] = NATS_URL): Promise<void> {
  const connection = await connect({ servers });
  try {
    const jsm = await connection.jetstreamManager();
    const partitions: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(`${stream}_P`) && /_P\d+$/.test(name)) partitions.push(name);
    for (const name of [
      stream,
      ...partitions,
      `${stream}_DLQ`,
      `${stream}_PROGRESS`,
      `KV_${stream}_HISTORY`,
      `KV_${stream}_GROUPS`,
      `KV_${stream}_LEASES`,
    ]) {
      await jsm.streams.delete(name).catch(() => false);
    }
  } finally {
    await connection.close();
  }
}
