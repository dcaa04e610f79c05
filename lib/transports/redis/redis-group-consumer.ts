import type { Redis } from 'ioredis';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { GroupConsumer } from '../group-consumer.js';
import { unlessAborted } from '../../core/async-primitives.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import { WriteBatcher } from '../write-batcher.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { ACK_SCRIPT, DEAD_LETTER_SCRIPT, INDEX_FOREIGN_SCRIPT, RETRY_SCRIPT } from './redis-scripts.js';
import { entryFields, type StreamEntry } from './redis-stream-entry.js';
import { errorMessage } from '../../core/error-message.js';

const ACK = new RedisScript(ACK_SCRIPT);
const RETRY = new RedisScript(RETRY_SCRIPT);
const DEAD_LETTER = new RedisScript(DEAD_LETTER_SCRIPT);
const INDEX_FOREIGN = new RedisScript(INDEX_FOREIGN_SCRIPT);

export interface RedisConsumerContext {
  client: Redis;
  keys: RedisKeys;
  ackTimeoutMs: number;
  blockMs: number;
  maxDeadLetters: number;
  retentionMs: number;
  logger: BrokerLogger;
  codec: EventCodec;
}

/** Settles one (entry, group) pair in Redis; shared by consumed and claimed (sync) deliveries. */
export class RedisDeliverySettler {
  constructor(
    private readonly context: RedisConsumerContext,
    private readonly group: string,
    private readonly consumerName: string,
  ) {}

  private readonly acks = new WriteBatcher<string>(async (entryIds) => {
    const { client, keys } = this.context;
    await ACK.run(client, [keys.stream, keys.acked(this.group)], [this.group, Date.now(), ...entryIds]);
  });

  ack(entryId: string): Promise<void> {
    return this.acks.add(entryId);
  }

  /** Makes the entry claimable again once the retry is due, by any consumer of the group. */
  async retry(entryId: string, dueAt: number, retryCount: number): Promise<void> {
    const { client, keys, ackTimeoutMs } = this.context;
    await RETRY.run(client, [keys.stream, keys.outcomes], [this.group, this.consumerName, entryId, dueAt - ackTimeoutMs, retryCount]);
  }

  async deadLetter(entryId: string, body: string, error: string, attempts: number): Promise<void> {
    const { client, keys, maxDeadLetters } = this.context;
    await DEAD_LETTER.run(
      client,
      [keys.stream, keys.dead(this.group), keys.outcomes],
      [this.group, entryId, body, error, attempts, Date.now(), maxDeadLetters],
    );
  }
}

/**
 * One consumer of one group: claims entries that are due (retries, or abandoned by a consumer
 * that crashed or was released), reads new ones with a blocking XREADGROUP sized to the free
 * capacity, and keeps the entries it is working on from being claimed by others.
 */
export class RedisGroupConsumer extends GroupConsumer<string> {
  private readonly settler: RedisDeliverySettler;
  private readonly reader: Redis;
  private claimCursor = '0-0';
  private nextClaimAt = 0;
  /** The earliest retry this consumer scheduled and has not claimed yet. */
  private nextDueAt = Number.POSITIVE_INFINITY;
  /** The server's id of the blocking connection, for `CLIENT UNBLOCK`. */
  private readerId?: number;
  private readonly wakeTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly context: RedisConsumerContext,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
  ) {
    super(spec, onDelivery, flow, { transportName: 'Redis', logger: context.logger, codec: context.codec, leaseMs: context.ackTimeoutMs });
    this.settler = new RedisDeliverySettler(context, spec.group, spec.consumerName);
    this.reader = context.client.duplicate();
    this.reader.on('error', () => undefined);
    this.reader.on('ready', () => {
      this.reader
        .client('ID')
        .then((id) => (this.readerId = id))
        .catch(() => undefined);
    });
  }

  protected override interrupt(): void {
    for (const timer of this.wakeTimers) clearTimeout(timer);
    this.reader.disconnect();
  }

  protected async receive(count: number, signal: AbortSignal): Promise<void> {
    if (!(await this.claim(count, signal))) await this.read(count, signal);
  }

  /** Takes over entries that are due; whether it found any. */
  private async claim(count: number, signal: AbortSignal): Promise<boolean> {
    const now = Date.now();
    if (this.claimCursor === '0-0' && now < this.nextClaimAt && now < this.nextDueAt) return false;
    const { client, keys, ackTimeoutMs, blockMs } = this.context;
    const claiming = client.xautoclaim(
      keys.stream,
      this.spec.group,
      this.spec.consumerName,
      ackTimeoutMs,
      this.claimCursor,
      'COUNT',
      count,
    ) as Promise<[string, (StreamEntry | null)[]]>;
    // Not waited for once closing, as a read (below): Redis may be down, the command queued.
    const answer = await unlessAborted(claiming, signal);
    if (!answer) return false;
    const [cursor, entries] = answer;
    this.claimCursor = cursor;
    if (cursor === '0-0') {
      this.nextClaimAt = now + Math.min(blockMs, ackTimeoutMs);
      this.nextDueAt = Number.POSITIVE_INFINITY;
    }
    const claimed = entries.filter((entry): entry is StreamEntry => entry !== null);
    if (claimed.length === 0) return false;
    const pipeline = client.pipeline();
    for (const [id] of claimed) pipeline.xpending(keys.stream, this.spec.group, id, id, 1);
    const counts = (await pipeline.exec()) ?? [];
    await this.dispatch(
      this.received(
        claimed,
        claimed.map((_, index) => Number((counts[index]?.[1] as [string, string, number, number][] | null)?.[0]?.[3] ?? 1)),
      ),
    );
    return true;
  }

  private async read(count: number, signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const wait = Math.max(1, Math.min(this.context.blockMs, this.nextDueAt - now, this.nextClaimAt - now));
    // Not waited for once closing: ioredis never settles a read queued while its connection is
    // reconnecting, even after disconnect(); the entries of a read that ends anyway stay pending.
    const reading = this.reader.xreadgroup(
      'GROUP',
      this.spec.group,
      this.spec.consumerName,
      'COUNT',
      count,
      'BLOCK',
      wait,
      'STREAMS',
      this.context.keys.stream,
      '>',
    ) as Promise<[string, StreamEntry[]][] | null>;
    const result = await unlessAborted(reading, signal);
    const entries = result?.[0]?.[1] ?? [];
    if (entries.length === 0) return;
    this.recordRead(entries[entries.length - 1][0]);
    await this.dispatch(
      this.received(
        entries,
        entries.map(() => 1),
      ),
    );
  }

  /**
   * Records when the group's reads reached `entryId` (the `processedAt` of the entries up to it).
   * Not awaited; refused, and ignored, when another consumer of the group recorded a later read first.
   */
  private recordRead(entryId: string): void {
    const { client, keys } = this.context;
    client.xadd(keys.delivered(this.spec.group), entryId, 'at', Date.now()).catch(() => undefined);
  }

  /**
   * The entries as the consumer loop takes them. An entry another program appended (it has no `id`
   * field) is read here, to index it by its event id as a publish does; one that cannot be read is
   * left to the loop, which dead-letters it.
   */
  private received(entries: readonly StreamEntry[], attempts: readonly number[]): ReceivedMessage<string>[] {
    const foreign: (string | number)[] = [];
    const received = entries.map(([entryId, rawFields], index): ReceivedMessage<string> => {
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
        message: entryId,
        key: entryId,
        description: entryId,
        attempt: attempts[index],
        body: fields.event,
        event,
        only: fields.only,
        skip: fields.skip === undefined ? undefined : fields.skip.split(','),
      };
    });
    if (foreign.length > 0) this.indexForeign(foreign);
    return received;
  }

  private indexForeign(triples: readonly (string | number)[]): void {
    const { client, keys, retentionMs, logger } = this.context;
    INDEX_FOREIGN.run(client, [keys.skew], [keys.idPrefix, retentionMs, ...triples]).catch((error: unknown) =>
      logger.warn(`Could not index ${triples.length / 3} events another program wrote: ${errorMessage(error)}`),
    );
  }

  protected ack({ message: entryId }: ReceivedMessage<string>): Promise<void> {
    return this.settler.ack(entryId);
  }

  protected async retryLater({ message: entryId, attempt }: ReceivedMessage<string>, _event: BrokerEvent, delayMs: number): Promise<void> {
    const dueAt = Date.now() + delayMs;
    this.nextDueAt = Math.min(this.nextDueAt, dueAt);
    await this.settler.retry(entryId, dueAt, attempt);
    this.wakeAt(dueAt);
  }

  protected deadLetter({ message: entryId, body }: ReceivedMessage<string>, error: string, attempts: number): Promise<void> {
    return this.settler.deadLetter(entryId, body ?? '', error, attempts);
  }

  protected async pass(entryIds: readonly string[]): Promise<void> {
    await this.context.client.xack(this.context.keys.stream, this.spec.group, ...entryIds);
  }

  /** Resets the idle time of the entries being worked on, so that no other consumer claims them. */
  protected async renewLeases(entryIds: readonly string[]): Promise<void> {
    const { client, keys } = this.context;
    await client.xclaim(keys.stream, this.spec.group, this.spec.consumerName, 0, ...entryIds, 'JUSTID');
  }

  /** Makes the entries claimable at once, so another instance takes them over. */
  protected async giveBack(entryIds: readonly string[]): Promise<void> {
    const { client, keys, ackTimeoutMs } = this.context;
    await client.xclaim(keys.stream, this.spec.group, this.spec.consumerName, 0, ...entryIds, 'TIME', Date.now() - ackTimeoutMs, 'JUSTID');
  }

  /**
   * Ends the blocking read when a retry falls due (`CLIENT UNBLOCK`), so that it is claimed on
   * time rather than when the read would have timed out.
   */
  private wakeAt(dueAt: number): void {
    const timer = setTimeout(
      () => {
        this.wakeTimers.delete(timer);
        if (this.readerId === undefined || this.abort.signal.aborted) return;
        this.context.client.client('UNBLOCK', this.readerId).catch(() => undefined);
      },
      Math.max(0, dueAt - Date.now()),
    );
    timer.unref();
    this.wakeTimers.add(timer);
  }
}
