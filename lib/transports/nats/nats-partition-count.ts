import type { JetStreamManager, KV } from 'nats';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { printable } from '../../core/quote-input.js';
import { isNotFound } from './nats-errors.js';

/** The key of the groups bucket that holds the partition count (no encoded group name starts with `_p`). */
export const PARTITION_COUNT_KEY = '_partitions';

/**
 * Records the partition count of `stream` on its first use, and refuses another one: which
 * partition an event is in depends on the count. Data written before partitions existed (the
 * stream `<stream>` itself and no recorded count) has one partition.
 */
export async function refuseOtherPartitionCount(kv: KV, jsm: JetStreamManager, stream: string, partitions: number): Promise<void> {
  let recorded = (await kv.get(PARTITION_COUNT_KEY))?.string();
  if (!recorded) {
    const unpartitioned = await jsm.streams.info(stream).then(
      () => true,
      (error: unknown) => {
        if (isNotFound(error)) return false;
        throw error;
      },
    );
    const count = String(unpartitioned ? 1 : partitions);
    try {
      await kv.create(PARTITION_COUNT_KEY, count);
      recorded = count;
    } catch (error) {
      // Another process recorded it a moment ago: the first record stands.
      recorded = (await kv.get(PARTITION_COUNT_KEY))?.string();
      if (!recorded) throw error;
    }
  }
  if (Number(recorded) === partitions) return;
  const count = printable(String(recorded));
  throw new EventBrokerError(
    `NatsTransport: stream ${stream} holds events written with partitions ${count}, and this transport has partitions ${partitions}. ` +
      `The partition of an event depends on the count, so it cannot change under existing data: set partitions to ${count}, or use a ` +
      `new stream name (and subjectPrefix) for the new count (and keep consumers on the old one until its groups have consumed what it ` +
      `holds). The count is recorded under ${PARTITION_COUNT_KEY} in the bucket ${stream}_GROUPS.`,
  );
}
