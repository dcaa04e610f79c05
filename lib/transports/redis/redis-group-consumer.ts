import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { GroupConsumer } from '../group-consumer.js';
import { unlessAborted } from '../../core/async-primitives.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import { WriteBatcher } from '../write-batcher.js';
import type { RedisClient } from './redis-client.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { ACK_SCRIPT, DEAD_LETTER_SCRIPT, INDEX_FOREIGN_SCRIPT, READ_SCRIPT, RETRY_SCRIPT } from './redis-scripts.js';
import { entryFields, type StreamEntry } from './redis-stream-entry.js';
import { errorMessage } from '../../core/error-message.js';

const ACK = new RedisScript(ACK_SCRIPT);
const RETRY = new RedisScript(RETRY_SCRIPT);
const DEAD_LETTER = new RedisScript(DEAD_LETTER_SCRIPT);
const INDEX_FOREIGN = new RedisScript(INDEX_FOREIGN_SCRIPT);
const READ = new RedisScript(READ_SCRIPT);

export interface RedisConsumerContext {
  client: RedisClient;
  partitions: readonly RedisKeys[];
  /** The key of an ordered group's live consumers. */
  members(group: string): string;
  ackTimeoutMs: number;
  blockMs: number;
  maxDeadLetters: number;
  retentionMs: number;
  logger: BrokerLogger;
  codec: EventCodec;
}

/** An entry of one partition's stream: what a consumer settles. */
export interface PartitionEntry {
  partition: number;
  id: string;
}

/** Settles (entry, group) pairs of one partition in Redis; shared by consumed and claimed (sync) deliveries. */
export class RedisDeliverySettler {
  constructor(
    private readonly context: RedisConsumerContext,
    private readonly keys: RedisKeys,
    private readonly group: string,
    private readonly consumerName: string,
  ) {}

  private readonly acks = new WriteBatcher<string>(async (entryIds) => {
    await ACK.run(this.context.client, [this.keys.stream, this.keys.acked(this.group)], [this.group, Date.now(), ...entryIds]);
  });

  ack(entryId: string): Promise<void> {
    return this.acks.add(entryId);
  }

  /** Makes the entry claimable again once the retry is due, by any consumer of the group. */
  async retry(entryId: string, dueAt: number, retryCount: number): Promise<void> {
    const { client, ackTimeoutMs } = this.context;
    await RETRY.run(
      client,
      [this.keys.stream, this.keys.outcomes],
      [this.group, this.consumerName, entryId, dueAt - ackTimeoutMs, retryCount],
    );
  }

  async deadLetter(entryId: string, body: string, error: string, attempts: number): Promise<void> {
    const { client, maxDeadLetters } = this.context;
    await DEAD_LETTER.run(
      client,
      [this.keys.stream, this.keys.dead(this.group), this.keys.outcomes],
      [this.group, entryId, body, error, attempts, Date.now(), maxDeadLetters],
    );
  }
}

/** What a consumer keeps per partition it reads. */
export class PartitionCursor {
  claimCursor = '0-0';
  nextClaimAt = 0;
  /** The earliest retry this consumer scheduled in the partition and has not claimed yet. */
  nextDueAt = Number.POSITIVE_INFINITY;
  /** The newest entry of the stream when the group last found nothing new in it. */
  newest = '0-0';
  /** A blocking XREAD from `newest`, while one runs: the partition has had nothing new since. */
  watch?: Promise<unknown>;
  watchedSince = 0;

  constructor(
    readonly keys: RedisKeys,
    readonly settler: RedisDeliverySettler,
    /** Its own connection: a blocking read holds the one it runs on (in a cluster, one connection per node). */
    readonly reader: RedisClient,
  ) {}
}

/**
 * One consumer of one group, over every partition: claims entries that are due (retries, or
 * abandoned by a consumer that crashed or was released), reads new ones sized to the free capacity
 * partition after partition, and when there are none waits for a new entry in any partition (one
 * blocking XREAD per partition: in a cluster, a blocking read may only name keys of one slot). It
 * keeps the entries it is working on from being claimed by others.
 */
export class RedisGroupConsumer extends GroupConsumer<PartitionEntry> {
  protected readonly cursors: PartitionCursor[];
  /** The partition the next receive starts with: each gets its turn to be read first. */
  private turn = 0;
  /** Ends the current wait early, when a retry falls due. */
  private wake?: () => void;
  private readonly wakeTimers = new Set<NodeJS.Timeout>();

  constructor(
    protected readonly context: RedisConsumerContext,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
  ) {
    super(spec, onDelivery, flow, { transportName: 'Redis', logger: context.logger, codec: context.codec, leaseMs: context.ackTimeoutMs });
    this.cursors = context.partitions.map((keys) => {
      const reader = context.client.duplicate();
      reader.on('error', () => undefined);
      return new PartitionCursor(keys, new RedisDeliverySettler(context, keys, spec.group, spec.consumerName), reader);
    });
  }

  protected override interrupt(): void {
    for (const timer of this.wakeTimers) clearTimeout(timer);
    this.wake?.();
    for (const { reader } of this.cursors) reader.disconnect();
  }

  protected async receive(count: number, signal: AbortSignal): Promise<void> {
    const order = this.cursors
      .map((_, index) => this.cursors[(this.turn + index) % this.cursors.length])
      .filter((cursor) => this.readable(cursor.keys.partition));
    this.turn = (this.turn + 1) % this.cursors.length;
    for (const cursor of order) if (await this.claim(cursor, count, signal)) return;
    let remaining = this.readLimit(count);
    const read: ReceivedMessage<PartitionEntry>[] = [];
    for (const cursor of order) {
      if (remaining <= 0 || signal.aborted) break;
      if (this.quiet(cursor)) continue;
      const entries = await this.read(cursor, remaining, signal);
      remaining -= entries.length;
      read.push(...entries);
    }
    if (read.length > 0) await this.dispatch(read);
    else if (!signal.aborted) await this.waitForEntries(signal);
  }

  /** Whether the consumer reads and claims the partition: every one, unless the group is ordered. */
  protected readable(partition: number): boolean {
    void partition;
    return true;
  }

  /** How many new entries a receive may read when the worker pool has room for `count`. */
  protected readLimit(count: number): number {
    return count;
  }

  /**
   * Reads at most `count` new entries of the partition for this consumer: the newest entry of the
   * stream before the read and the entries, or `undefined` when the consumer may not read it.
   */
  protected readEntries(cursor: PartitionCursor, count: number): Promise<[string, StreamEntry[]] | undefined> {
    return READ.run(
      this.context.client,
      [cursor.keys.stream, cursor.keys.delivered(this.spec.group)],
      [this.spec.group, this.spec.consumerName, count, Date.now()],
    ) as Promise<[string, StreamEntry[]]>;
  }

  /** Takes over entries of the partition that are due; whether it found any. */
  private async claim(cursor: PartitionCursor, count: number, signal: AbortSignal): Promise<boolean> {
    const now = Date.now();
    if (cursor.claimCursor === '0-0' && now < cursor.nextClaimAt && now < cursor.nextDueAt) return false;
    const { client, ackTimeoutMs, blockMs } = this.context;
    const { stream } = cursor.keys;
    const claiming = client.xautoclaim(
      stream,
      this.spec.group,
      this.spec.consumerName,
      ackTimeoutMs,
      cursor.claimCursor,
      'COUNT',
      count,
    ) as Promise<[string, (StreamEntry | null)[]]>;
    // Not waited for once closing, as a read (below): Redis may be down, the command queued.
    const answer = await unlessAborted(claiming, signal);
    if (!answer) return false;
    const [next, entries] = answer;
    cursor.claimCursor = next;
    if (next === '0-0') {
      cursor.nextClaimAt = now + Math.min(blockMs, ackTimeoutMs);
      cursor.nextDueAt = Number.POSITIVE_INFINITY;
    }
    const claimed = entries.filter((entry): entry is StreamEntry => entry !== null);
    if (claimed.length === 0) return false;
    // One partition's keys share a slot: a pipeline of them goes to one node.
    const pipeline = client.pipeline();
    for (const [id] of claimed) pipeline.xpending(stream, this.spec.group, id, id, 1);
    const counts = (await pipeline.exec()) ?? [];
    await this.dispatch(
      this.received(
        cursor.keys,
        claimed,
        claimed.map((_, index) => Number((counts[index]?.[1] as [string, string, number, number][] | null)?.[0]?.[3] ?? 1)),
      ),
    );
    return true;
  }

  /** Reads at most `count` new entries of the partition for this consumer. */
  private async read(cursor: PartitionCursor, count: number, signal: AbortSignal): Promise<ReceivedMessage<PartitionEntry>[]> {
    const answer = await unlessAborted(this.readEntries(cursor, count), signal);
    if (!answer) return [];
    const [newest, entries] = answer;
    if (entries.length === 0) cursor.newest = newest;
    return this.received(
      cursor.keys,
      entries,
      entries.map(() => 1),
    );
  }

  /**
   * Waits until a partition has an entry after the newest one its last read found, a retry or a
   * claim falls due, or `blockMs` passes. A partition's XREAD left running when another one woke
   * first is waited on again by the next wait.
   */
  private async waitForEntries(signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const nextDue = Math.min(
      ...this.cursors
        .filter((cursor) => this.readable(cursor.keys.partition))
        .map((cursor) => Math.min(cursor.nextDueAt, cursor.nextClaimAt)),
    );
    const wait = Math.max(1, Math.min(this.context.blockMs, nextDue - now));
    const watches = this.cursors
      .filter((cursor) => this.readable(cursor.keys.partition))
      .map((cursor) => (cursor.watch ??= this.watch(cursor)));
    let timer: NodeJS.Timeout | undefined;
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, wait);
    });
    try {
      // Not waited for once closing: ioredis never settles a read queued while its connection is
      // reconnecting, even after disconnect(); nothing an XREAD returns is the group's.
      await unlessAborted(Promise.race([woken, ...watches]), signal);
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
    }
  }

  /**
   * Whether the partition had nothing new since its last read: its XREAD is still waiting (one
   * that ran more than twice as long as it may, on a connection that broke, says nothing).
   */
  private quiet(cursor: PartitionCursor): boolean {
    return cursor.watch !== undefined && Date.now() - cursor.watchedSince < 2 * this.context.blockMs;
  }

  private watch(cursor: PartitionCursor): Promise<unknown> {
    const { stream } = cursor.keys;
    cursor.watchedSince = Date.now();
    return cursor.reader.xread('COUNT', 1, 'BLOCK', this.context.blockMs, 'STREAMS', stream, cursor.newest).finally(() => {
      cursor.watch = undefined;
    });
  }

  /**
   * The entries as the consumer loop takes them. An entry another program appended (it has no `id`
   * field) is read here, to index it by its event id as a publish does; one that cannot be read is
   * left to the loop, which dead-letters it.
   */
  protected received(keys: RedisKeys, entries: readonly StreamEntry[], attempts: readonly number[]): ReceivedMessage<PartitionEntry>[] {
    const foreign: (string | number)[] = [];
    const received = entries.map(([entryId, rawFields], index): ReceivedMessage<PartitionEntry> => {
      const fields = entryFields(rawFields);
      let event: BrokerEvent | undefined;
      if (fields.id === undefined && fields.event !== undefined) {
        try {
          event = this.context.codec.decode(fields.event);
          foreign.push(event.id, entryId, event.createdAt.getTime());
        } catch {
          event = undefined;
        }
      }
      return {
        message: { partition: keys.partition, id: entryId },
        key: `${keys.partition}/${entryId}`,
        description: `${entryId} on ${keys.stream}`,
        attempt: attempts[index],
        body: fields.event,
        event,
        only: fields.only,
        skip: fields.skip === undefined ? undefined : fields.skip.split(','),
      };
    });
    if (foreign.length > 0) this.indexForeign(keys, foreign);
    return received;
  }

  private indexForeign(keys: RedisKeys, triples: readonly (string | number)[]): void {
    const { client, retentionMs, logger } = this.context;
    INDEX_FOREIGN.run(client, [keys.skew], [keys.idPrefix, retentionMs, ...triples]).catch((error: unknown) =>
      logger.warn(`Could not index ${triples.length / 3} events another program wrote: ${errorMessage(error)}`),
    );
  }

  protected ack({ message }: ReceivedMessage<PartitionEntry>): Promise<void> {
    return this.cursors[message.partition].settler.ack(message.id);
  }

  protected async retryLater({ message, attempt }: ReceivedMessage<PartitionEntry>, _event: BrokerEvent, delayMs: number): Promise<void> {
    const dueAt = Date.now() + delayMs;
    const cursor = this.cursors[message.partition];
    cursor.nextDueAt = Math.min(cursor.nextDueAt, dueAt);
    await cursor.settler.retry(message.id, dueAt, attempt);
    this.wakeAt(dueAt);
  }

  protected deadLetter({ message, body }: ReceivedMessage<PartitionEntry>, error: string, attempts: number): Promise<void> {
    return this.cursors[message.partition].settler.deadLetter(message.id, body ?? '', error, attempts);
  }

  protected async pass(entries: readonly PartitionEntry[]): Promise<void> {
    await this.byPartition(entries, (stream, ids) => this.context.client.xack(stream, this.spec.group, ...ids));
  }

  /** Resets the idle time of the entries being worked on, so that no other consumer claims them. */
  protected async renewLeases(entries: readonly PartitionEntry[]): Promise<void> {
    const { group, consumerName } = this.spec;
    await this.byPartition(entries, (stream, ids) => this.context.client.xclaim(stream, group, consumerName, 0, ...ids, 'JUSTID'));
  }

  /** Makes the entries claimable at once, so another instance takes them over. */
  protected async giveBack(entries: readonly PartitionEntry[]): Promise<void> {
    const { group, consumerName } = this.spec;
    const idleSince = Date.now() - this.context.ackTimeoutMs;
    await this.byPartition(entries, (stream, ids) =>
      this.context.client.xclaim(stream, group, consumerName, 0, ...ids, 'TIME', idleSince, 'JUSTID'),
    );
  }

  /** Runs `command` once per partition the entries are in, with that partition's stream and entry ids. */
  protected async byPartition(
    entries: readonly PartitionEntry[],
    command: (stream: string, ids: string[]) => Promise<unknown>,
  ): Promise<void> {
    const ids = new Map<number, string[]>();
    for (const { partition, id } of entries) {
      const list = ids.get(partition) ?? [];
      list.push(id);
      ids.set(partition, list);
    }
    await Promise.all([...ids].map(([partition, list]) => command(this.cursors[partition].keys.stream, list)));
  }

  /** Ends the current wait for new entries, if one runs. */
  protected wakeUp(): void {
    this.wake?.();
  }

  /** Ends the wait for new entries when a retry falls due, so that it is claimed on time. */
  private wakeAt(dueAt: number): void {
    const timer = setTimeout(
      () => {
        this.wakeTimers.delete(timer);
        this.wake?.();
      },
      Math.max(0, dueAt - Date.now()),
    );
    timer.unref();
    this.wakeTimers.add(timer);
  }
}
