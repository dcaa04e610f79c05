import type { KV, KvEntry, QueuedIterator } from 'nats';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import { encodeName } from './nats-names.js';

/** A consumer group of the stream, as the groups bucket holds it. */
export interface RegisteredGroup {
  group: string;
  patterns: readonly string[];
  /**
   * The first stream sequence routed to the group: the one after the newest message when it was
   * created (all of them with `fromBeginning`); 0 for a group registered before it was recorded.
   */
  startSeq: number;
}

/**
 * Every group of the stream with its patterns and where it started, from the groups bucket, kept
 * current by a watch: which groups an event was routed to follows from it.
 */
export class NatsGroupRegistry {
  private readonly groups = new Map<string, RegisteredGroup>();
  private watcher?: QueuedIterator<KvEntry>;

  private constructor(private readonly kv: KV) {}

  static async open(kv: KV, logger: BrokerLogger): Promise<NatsGroupRegistry> {
    const registry = new NatsGroupRegistry(kv);
    for await (const key of await kv.keys()) registry.load(await kv.get(key));
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

  /** Records the group's patterns; a group keeps the start it was first registered with. */
  async register(group: string, patterns: readonly string[], startSeq: number): Promise<void> {
    const key = encodeName(group);
    let start = this.groups.get(group)?.startSeq;
    if (start === undefined) {
      // Another process may have registered it a moment ago, unseen by the watch yet.
      const stored = await this.kv.get(key);
      start = stored?.operation === 'PUT' ? (stored.json<Partial<RegisteredGroup>>().startSeq ?? 0) : startSeq;
    }
    const registered: RegisteredGroup = { group, patterns, startSeq: start };
    this.groups.set(group, registered);
    await this.kv.put(key, JSON.stringify(registered));
  }

  private load(entry: KvEntry | null): void {
    if (entry?.operation !== 'PUT') return;
    const { group, patterns, startSeq = 0 } = entry.json<Partial<RegisteredGroup> & { group: string; patterns: string[] }>();
    const known = this.groups.get(group);
    // The same patterns keep their array, which routing results are remembered by.
    const same = known !== undefined && known.patterns.join('\n') === patterns.join('\n');
    this.groups.set(group, { group, patterns: same ? known.patterns : patterns, startSeq });
  }
}
