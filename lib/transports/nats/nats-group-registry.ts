import type { KV, KvEntry, QueuedIterator } from 'nats';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import { encodeName } from './nats-names.js';
import { PARTITION_COUNT_KEY } from './nats-partition-count.js';

/** A consumer group of the streams, as the groups bucket holds it. */
export interface RegisteredGroup {
  group: string;
  patterns: readonly string[];
  /**
   * Per partition, the first stream sequence routed to the group: the one after the newest
   * message when its consumer on the partition's stream was created (all of them with
   * `fromBeginning`); 0 for a group registered before it was recorded.
   */
  startSeqs: readonly number[];
}

/**
 * A group's record in the bucket, under its encoded name: `{ group, patterns, startSeq }` with one
 * partition (as before partitions), `{ group, patterns, startSeqs: [per partition] }` with several.
 */
interface GroupRecord {
  group: string;
  patterns: string[];
  startSeq?: number;
  startSeqs?: number[];
}

/**
 * Every group of the streams with its patterns and where it started, from the groups bucket, kept
 * current by a watch: which groups an event was routed to follows from it.
 */
export class NatsGroupRegistry {
  private readonly groups = new Map<string, RegisteredGroup>();
  private watcher?: QueuedIterator<KvEntry>;

  private constructor(
    private readonly kv: KV,
    private readonly partitions: number,
  ) {}

  static async open(kv: KV, partitions: number, logger: BrokerLogger): Promise<NatsGroupRegistry> {
    const registry = new NatsGroupRegistry(kv, partitions);
    for await (const key of await kv.keys()) if (key !== PARTITION_COUNT_KEY) registry.load(await kv.get(key));
    const watcher = await kv.watch();
    registry.watcher = watcher;
    void (async () => {
      for await (const entry of watcher) registry.load(entry);
    })().catch((error: unknown) => logger.warn(`Watch of the NATS groups bucket ended: ${errorMessage(error)}`));
    return registry;
  }

  /** Stops following the bucket (the connection may outlive the transport). */
  close(): void {
    this.watcher?.stop();
  }

  get(group: string): RegisteredGroup | undefined {
    return this.groups.get(group);
  }

  all(): RegisteredGroup[] {
    return [...this.groups.values()];
  }

  /** Records the group's patterns; a group keeps the starts it was first registered with. */
  async register(group: string, patterns: readonly string[], startSeqs: readonly number[]): Promise<void> {
    const key = encodeName(group);
    let starts = this.groups.get(group)?.startSeqs;
    if (starts === undefined) {
      // Another process may have registered it a moment ago, unseen by the watch yet.
      const stored = await this.kv.get(key);
      starts = stored?.operation === 'PUT' ? this.startsOf(stored.json<GroupRecord>()) : startSeqs;
    }
    this.groups.set(group, { group, patterns, startSeqs: starts });
    const record: GroupRecord =
      this.partitions === 1
        ? { group, patterns: [...patterns], startSeq: starts[0] }
        : { group, patterns: [...patterns], startSeqs: [...starts] };
    await this.kv.put(key, JSON.stringify(record));
  }

  private load(entry: KvEntry | null): void {
    if (entry?.operation !== 'PUT' || entry.key === PARTITION_COUNT_KEY) return;
    const record = entry.json<GroupRecord>();
    const { group, patterns } = record;
    const known = this.groups.get(group);
    // The same patterns keep their array, which routing results are remembered by.
    const same = known !== undefined && known.patterns.join('\n') === patterns.join('\n');
    this.groups.set(group, { group, patterns: same ? known.patterns : patterns, startSeqs: this.startsOf(record) });
  }

  /** The start of the group in every partition, 0 where the record has none. */
  private startsOf({ startSeq, startSeqs }: GroupRecord): number[] {
    return Array.from({ length: this.partitions }, (_, partition) => startSeqs?.[partition] ?? (partition === 0 ? (startSeq ?? 0) : 0));
  }
}
