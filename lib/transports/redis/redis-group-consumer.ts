import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { GroupConsumer } from '../group-consumer.js';
import { unlessAborted, withTimeout } from '../../core/async-primitives.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import { WriteBatcher } from '../write-batcher.js';
import type { RedisClient } from './redis-client.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { ACK_SCRIPT, DEAD_LETTER_SCRIPT, INDEX_FOREIGN_SCRIPT, READ_SCRIPT, RETRY_SCRIPT } from './redis-scripts.js';
import { RedisPartitionWatch } from './redis-partition-watch.js';
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
  /** The blocking read of new entries on `reader`, while one runs. */
  reading?: Promise<void>;
  /** Entries a blocking read took for the consumer and it has not dispatched yet. */
  taken: StreamEntry[] = [];
  /** Why the last blocking read failed, until a receive reports it. */
  failure?: unknown;
  /** Waits, without taking anything, for an entry the group has not seen. */
  readonly watch: RedisPartitionWatch;

  constructor(
    readonly keys: RedisKeys,
    readonly settler: RedisDeliverySettler,
    /** Its own connection: a blocking read holds the one it runs on (in a cluster, one connection per node). */
    readonly reader: RedisClient,
    blockMs: number,
  ) {
    this.watch = new RedisPartitionWatch(reader, keys.stream, blockMs);
  }

  /** Whether a blocking read or a watch holds `reader`: another command would wait behind it. */
  get waiting(): boolean {
    return this.reading !== undefined || this.watch.running;
  }
}

/**
 * One consumer of one group, over every partition: claims entries that are due (retries, or
 * abandoned by a consumer that crashed or was released), and reads new ones, each partition on a
 * connection of its own (in a cluster, a blocking read may only name keys of one slot). With room
 * for at least one entry per partition it waits in a blocking XREADGROUP per partition, for the
 * partition's share of the room: Redis hands the entries appended to a stream to the consumers
 * blocked on it in turn, so the instances of a group that wait share a burst, however fast each
 * reacts. With less room (or in an ordered group, whose reads check a lease in a script) it waits
 * with an XREAD per partition, which takes nothing, then reads the partitions that have new
 * entries within the room. It keeps the entries it is working on from being claimed by others.
 */
export class RedisGroupConsumer extends GroupConsumer<PartitionEntry> {
  protected readonly cursors: PartitionCursor[];
  /** The partition the next receive starts with: each gets its turn to be read first. */
  private turn = 0;
  /** The most room a receive has had: the size of the blocking reads, whatever the room is when one is asked again. */
  private widestRoom = 0;
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
      return new PartitionCursor(keys, new RedisDeliverySettler(context, keys, spec.group, spec.consumerName), reader, context.blockMs);
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
    await this.readNew(order, count, signal);
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

  /** Whether the consumer may read with a blocking XREADGROUP: not when a read must check something in a script. */
  protected blocksOnReads(): boolean {
    return true;
  }

  /**
   * Reads at most `count` new entries of the partition for this consumer, without blocking: the
   * newest entry of the stream before the read and the entries, or `undefined` when the consumer
   * may not read it.
   */
  protected readEntries(cursor: PartitionCursor, count: number): Promise<[string, StreamEntry[]] | undefined> {
    return READ.run(
      this.context.client,
      [cursor.keys.stream, cursor.keys.delivered(this.spec.group)],
      [this.spec.group, this.spec.consumerName, count, Date.now()],
    ) as Promise<[string, StreamEntry[]]>;
  }

  /**
   * Reads new entries of the partitions, or hands out what blocking reads took, at most `count`
   * (see the class). Once blocking reads run, a partition whose read returned gets another one,
   * for its share of the widest room the consumer has had, even when the room shrank meanwhile
   * (reads sized by a busy consumer's room of the moment took one entry each, a read and a
   * progress record per event): what the reads take beyond the room waits, its lease renewed,
   * until there is room. A blocking read still waiting when another one returned goes on; what it
   * takes goes with a later receive.
   */
  private async readNew(cursors: readonly PartitionCursor[], count: number, signal: AbortSignal): Promise<void> {
    let room = this.readLimit(count);
    this.widestRoom = Math.max(this.widestRoom, room);
    if (this.cursors.some(({ taken, failure }) => taken.length > 0 || failure !== undefined)) return this.dispatchTaken(room);
    if (this.blocksOnReads() && (room >= cursors.length || cursors.some((cursor) => cursor.reading))) {
      const share = Math.max(1, Math.floor(this.widestRoom / cursors.length));
      for (const cursor of cursors) if (!cursor.waiting) this.readBlocking(cursor, share);
    } else if (room > 0) {
      const read: ReceivedMessage<PartitionEntry>[] = [];
      for (const cursor of cursors) {
        if (room <= 0 || signal.aborted) break;
        if (cursor.watch.quiet) continue;
        const entries = await this.read(cursor, room, signal);
        room -= entries.length;
        read.push(...entries);
      }
      if (read.length > 0) return this.dispatch(read);
    }
    if (signal.aborted) return;
    // Without room, only the blocking reads running: a watch would wake on entries it cannot take.
    // What the reads took goes with the next receive, within the room there is then: while this one
    // waited, other subscriptions may have filled the worker pool they share.
    await this.waitFor(
      cursors.flatMap((cursor) => cursor.reading ?? (room > 0 ? cursor.watch.wait() : [])),
      signal,
    );
  }

  /** Reads at most `count` new entries of the partition for this consumer, without blocking. */
  private async read(cursor: PartitionCursor, count: number, signal: AbortSignal): Promise<ReceivedMessage<PartitionEntry>[]> {
    const answer = await unlessAborted(this.readEntries(cursor, count), signal);
    if (!answer) return [];
    const [newest, entries] = answer;
    if (entries.length === 0) cursor.watch.newest = newest;
    return this.received(
      cursor.keys,
      entries,
      entries.map(() => 1),
    );
  }

  /**
   * Waits on the partition's connection for at most `count` new entries for this consumer, and
   * records when the group's reads reached the furthest one (the `processedAt` of the entries up
   * to it): refused, and ignored, when another consumer recorded a later read first. Keeps what
   * it took, or why it failed, on the cursor: nothing is lost while no receive waits on it.
   */
  private readBlocking(cursor: PartitionCursor, count: number): void {
    const { client, blockMs } = this.context;
    const { group, consumerName } = this.spec;
    const { keys, reader } = cursor;
    const reading = reader.xreadgroup(
      'GROUP',
      group,
      consumerName,
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      keys.stream,
      '>',
    ) as Promise<[string, StreamEntry[]][] | null>;
    cursor.reading = reading
      .then(
        (answer) => {
          const entries = answer?.[0]?.[1] ?? [];
          if (entries.length === 0) return;
          cursor.taken.push(...entries);
          client.xadd(keys.delivered(group), entries[entries.length - 1][0], 'at', Date.now()).catch(() => undefined);
        },
        (error: unknown) => {
          cursor.failure = error;
        },
      )
      .finally(() => (cursor.reading = undefined));
  }

  /** Hands out at most `limit` of the entries blocking reads took; then reports the failure of one, if any failed. */
  private async dispatchTaken(limit: number): Promise<void> {
    const received: ReceivedMessage<PartitionEntry>[] = [];
    for (const { keys, taken } of this.cursors) {
      const entries = taken.splice(0, Math.max(0, limit - received.length));
      received.push(
        ...this.received(
          keys,
          entries,
          entries.map(() => 1),
        ),
      );
    }
    if (received.length > 0) await this.dispatch(received);
    const failed = this.cursors.find(({ failure }) => failure !== undefined);
    if (!failed) return;
    const { failure } = failed;
    failed.failure = undefined;
    throw failure;
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

  /**
   * Waits until one of `waits` (blocking reads, watches) settles, a retry or a claim falls due, or
   * `blockMs` passes; the others go on, and are waited on again by the next wait.
   */
  private async waitFor(waits: readonly Promise<unknown>[], signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const nextDue = Math.min(
      ...this.cursors
        .filter((cursor) => this.readable(cursor.keys.partition))
        .map((cursor) => Math.min(cursor.nextDueAt, cursor.nextClaimAt)),
    );
    const wait = Math.max(1, Math.min(this.context.blockMs, nextDue - now));
    let timer: NodeJS.Timeout | undefined;
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, wait);
    });
    try {
      // Not waited for once closing: ioredis never settles a read queued while its connection is
      // reconnecting, even after disconnect(); what a blocking read took stays pending, for another consumer.
      await unlessAborted(Promise.race([woken, ...waits]), signal);
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
    }
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

  /** The entries blocking reads took that wait for room: renewed with the deliveries, even when there are none. */
  protected override held(): PartitionEntry[] {
    return this.cursors.flatMap(({ keys, taken }) => taken.map(([id]) => ({ partition: keys.partition, id })));
  }

  /** Resets the idle time of the entries being worked on or held, so that no other consumer claims them. */
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

  /**
   * Besides the deliveries not settled, gives back at once the entries reads took that were never
   * handed out (else they would wait an ack timeout to be claimed).
   */
  override async release(): Promise<void> {
    const untouched = this.cursors.flatMap(({ keys, taken }) => taken.splice(0).map(([id]) => ({ partition: keys.partition, id })));
    await super.release();
    if (untouched.length === 0) return;
    const givenBack = this.giveBack(untouched).catch((error: unknown) =>
      this.context.logger.warn(`Could not give back ${untouched.length} entries of group ${this.spec.group}: ${errorMessage(error)}`),
    );
    await withTimeout(givenBack, this.context.ackTimeoutMs);
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
