import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { RedisClient } from './redis-client.js';
import type { RedisKeys } from './redis-keys.js';
import { entryEvent, entryFields, type StreamEntry } from './redis-stream-entry.js';

export interface RedisStreamFollowerOptions {
  client: RedisClient;
  partitions: readonly RedisKeys[];
  blockMs: number;
  logger: BrokerLogger;
  codec: EventCodec;
  /** Called with each new event, in the order of its partition's stream (replays are not new events). */
  onEvent: (event: BrokerEvent) => void;
}

/**
 * Reads the entries appended to every partition's stream from now on, for the live tails: one
 * blocking XREAD per partition on a connection of its own (in a cluster, a blocking read may only
 * name keys of one slot).
 */
export class RedisStreamFollower {
  private stopped = false;
  private readonly readers: RedisClient[] = [];

  constructor(private readonly options: RedisStreamFollowerOptions) {
    for (const keys of options.partitions) this.follow(keys);
  }

  stop(): void {
    this.stopped = true;
    for (const reader of this.readers) reader.disconnect();
  }

  private follow(keys: RedisKeys): void {
    const { client } = this.options;
    // The newest entry, asked on the publishing connection before any later publish: the tail
    // starts right after it, not at whatever is newest once the reader has connected.
    const newest = client.xrevrange(keys.stream, '+', '-', 'COUNT', 1);
    const reader = client.duplicate();
    reader.on('error', () => undefined);
    this.readers.push(reader);
    void this.read(reader, keys.stream, newest);
  }

  private async read(reader: RedisClient, stream: string, newest: Promise<StreamEntry[]>): Promise<void> {
    const { blockMs, logger, codec, onEvent } = this.options;
    let lastId = '$';
    try {
      lastId = (await newest)[0]?.[0] ?? '0-0';
    } catch (error) {
      logger.warn(`Live tail of ${stream} starts at the next new entry: ${errorMessage(error)}`);
    }
    while (!this.stopped) {
      try {
        const result = (await reader.xread('COUNT', 100, 'BLOCK', blockMs, 'STREAMS', stream, lastId)) as [string, StreamEntry[]][] | null;
        for (const [entryId, rawFields] of result?.[0]?.[1] ?? []) {
          lastId = entryId;
          const event = entryEvent(entryFields(rawFields), codec);
          if (event && !this.stopped) onEvent(event);
        }
      } catch (error) {
        if (this.stopped) break;
        logger.warn(`Live tail of ${stream} failed, retrying: ${errorMessage(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}
