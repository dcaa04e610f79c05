import { randomUUID } from 'node:crypto';
import { connect } from 'nats';

/** The shared NATS of the machine (CI starts it); `NATS_URL` points elsewhere. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** A stream name and a subject prefix no other test run uses. */
export function uniqueStream(name: string): { stream: string; subjectPrefix: string } {
  const id = randomUUID().slice(0, 8);
  return { stream: `EBTEST_${name}_${id}`, subjectPrefix: `ebtest-${name}-${id}` };
}

/** Deletes the streams (events, dead letters, progress, the groups bucket and the history bucket of earlier versions) of `stream`. */
export async function deleteStreams(stream: string, servers: string | string[] = NATS_URL): Promise<void> {
  const connection = await connect({ servers });
  try {
    const jsm = await connection.jetstreamManager();
    for (const name of [stream, `${stream}_DLQ`, `${stream}_PROGRESS`, `KV_${stream}_HISTORY`, `KV_${stream}_GROUPS`]) {
      await jsm.streams.delete(name).catch(() => false);
    }
  } finally {
    await connection.close();
  }
}
