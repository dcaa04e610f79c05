import type { Redis } from 'ioredis';
import { repeatUntilAborted } from '../../core/async-primitives.js';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { matchAnyPattern } from '../../core/match-pattern.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { Consumer, ConsumerSpec, Delivery, FlowControl } from '../event-transport.interface.js';
import { UnsettledDeliveries } from '../unsettled-deliveries.js';
import { WriteBatcher } from '../write-batcher.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { ACK_SCRIPT, DEAD_LETTER_SCRIPT, MARK_PROCESSING_SCRIPT, RETRY_SCRIPT } from './redis-scripts.js';
import { errorMessage } from '../../core/error-message.js';
import { printable } from '../../core/quote-input.js';

export const ACK = new RedisScript(ACK_SCRIPT);
export const RETRY = new RedisScript(RETRY_SCRIPT);
export const DEAD_LETTER = new RedisScript(DEAD_LETTER_SCRIPT);
export const MARK_PROCESSING = new RedisScript(MARK_PROCESSING_SCRIPT);

/** A stream entry as ioredis returns it: its id and its flat field/value list. */
export type StreamEntry = [id: string, fields: string[]];

export interface RedisConsumerContext {
  client: Redis;
  keys: RedisKeys;
  ackTimeoutMs: number;
  blockMs: number;
  maxDeadLetters: number;
  logger: BrokerLogger;
  codec: EventCodec;
}

export function entryFields(fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let index = 0; index + 1 < fields.length; index += 2) record[fields[index]] = fields[index + 1];
  return record;
}

/** Settles one (entry, group) pair in Redis; shared by consumed and claimed (sync) deliveries. */
export class RedisDeliverySettler {
  constructor(
    private readonly context: RedisConsumerContext,
    private readonly group: string,
    private readonly consumerName: string,
  ) {}

  private readonly acks = new WriteBatcher<{ entryId: string; eventId: string }>(async (acks) => {
    const { client, keys } = this.context;
    await ACK.run(
      client,
      [keys.stream, ...acks.map(({ eventId }) => keys.event(eventId))],
      [this.group, Date.now(), ...acks.map(({ entryId }) => entryId)],
    );
  });

  ack(entryId: string, eventId: string): Promise<void> {
    return this.acks.add({ entryId, eventId });
  }

  /** Makes the entry claimable again once the retry is due, by any consumer of the group. */
  async retry(entryId: string, eventId: string, dueAt: number, retryCount: number): Promise<void> {
    const { client, keys, ackTimeoutMs } = this.context;
    await RETRY.run(client, [keys.stream, keys.event(eventId)], [this.group, this.consumerName, entryId, dueAt - ackTimeoutMs, retryCount]);
  }

  async deadLetter(entryId: string, eventKey: string, body: string, error: string, attempts: number): Promise<void> {
    const { client, keys, maxDeadLetters } = this.context;
    await DEAD_LETTER.run(
      client,
      [keys.stream, eventKey, keys.dead(this.group)],
      [this.group, entryId, body, error, attempts, Date.now(), maxDeadLetters],
    );
  }
}

/**
 * One consumer of one group: claims entries that are due (retries, or abandoned by a consumer
 * that crashed or was released), reads new ones with a blocking XREADGROUP sized to the free
 * capacity, and keeps the entries it is working on from being claimed by others.
 */
export class RedisGroupConsumer implements Consumer {
  private readonly abort = new AbortController();
  /** Entries handed out and not settled: entry id → release. */
  private readonly unsettled = new UnsettledDeliveries<string>();
  private readonly settler: RedisDeliverySettler;
  private readonly reader: Redis;
  private running?: Promise<void>;
  private heartbeat?: NodeJS.Timeout;
  private claimCursor = '0-0';
  private nextClaimAt = 0;
  /** The earliest retry this consumer scheduled and has not claimed yet. */
  private nextDueAt = Number.POSITIVE_INFINITY;
  /** The server's id of the blocking connection, for `CLIENT UNBLOCK`. */
  private readerId?: number;
  private readonly wakeTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly context: RedisConsumerContext,
    private readonly spec: ConsumerSpec,
    private readonly onDelivery: (delivery: Delivery) => void,
    private readonly flow: FlowControl,
  ) {
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

  start(): void {
    this.running = this.loop();
    this.heartbeat = setInterval(() => void this.touch(), Math.max(50, this.context.ackTimeoutMs / 3));
    this.heartbeat.unref();
  }

  async drained(): Promise<void> {
    // Nothing to drain: what is not acked stays in the stream for another consumer.
  }

  async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    for (const timer of this.wakeTimers) clearTimeout(timer);
    this.reader.disconnect();
    await this.running;
  }

  /** Makes the unsettled entries claimable at once, so another instance takes them over. */
  async release(): Promise<void> {
    clearInterval(this.heartbeat);
    const ids = this.unsettled.release();
    if (ids.length === 0) return;
    const { client, keys, ackTimeoutMs } = this.context;
    await client.xclaim(keys.stream, this.spec.group, this.spec.consumerName, 0, ...ids, 'TIME', Date.now() - ackTimeoutMs, 'JUSTID');
  }

  private loop(): Promise<void> {
    const signal = this.abort.signal;
    return repeatUntilAborted(
      signal,
      async () => {
        if (this.flow.capacity() <= 0) await this.flow.whenReady(signal);
        else if (!(await this.claim(this.flow.capacity()))) await this.read(this.flow.capacity());
      },
      (error) => this.context.logger.warn(`Redis consumer of group ${this.spec.group} failed, retrying: ${errorMessage(error)}`),
    );
  }

  /** Takes over entries that are due; whether it found any. */
  private async claim(count: number): Promise<boolean> {
    const now = Date.now();
    if (this.claimCursor === '0-0' && now < this.nextClaimAt && now < this.nextDueAt) return false;
    const { client, keys, ackTimeoutMs, blockMs } = this.context;
    const [cursor, entries] = (await client.xautoclaim(
      keys.stream,
      this.spec.group,
      this.spec.consumerName,
      ackTimeoutMs,
      this.claimCursor,
      'COUNT',
      count,
    )) as [string, (StreamEntry | null)[]];
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
    const attempts = counts.map(([, result]) => Number((result as [string, string, number, number][] | null)?.[0]?.[3] ?? 1));
    await this.dispatch(claimed, attempts);
    return true;
  }

  private async read(count: number): Promise<void> {
    const now = Date.now();
    const wait = Math.max(1, Math.min(this.context.blockMs, this.nextDueAt - now, this.nextClaimAt - now));
    const result = (await this.reader.xreadgroup(
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
    )) as [string, StreamEntry[]][] | null;
    const entries = result?.[0]?.[1] ?? [];
    if (entries.length > 0)
      await this.dispatch(
        entries,
        entries.map(() => 1),
      );
  }

  /** Hands out the entries meant for this group; acks the others, dead-letters the unreadable. */
  private async dispatch(entries: readonly StreamEntry[], attempts: readonly number[]): Promise<void> {
    const { client, keys } = this.context;
    const notForUs: string[] = [];
    const deliveries: Delivery[] = [];
    for (const [index, [entryId, rawFields]] of entries.entries()) {
      const fields = entryFields(rawFields);
      if ((fields.only !== undefined && fields.only !== this.spec.group) || (fields.skip ?? '').split(',').includes(this.spec.group)) {
        notForUs.push(entryId);
        continue;
      }
      const body = fields.event ?? '';
      let event: BrokerEvent;
      try {
        if (fields.event === undefined) throw new Error('the entry has no "event" field');
        event = this.context.codec.decode(body);
      } catch (error) {
        const problem = `Unreadable message ${entryId}: ${printable(errorMessage(error))}`;
        this.context.logger.error(`${problem}; dead-lettered for group ${this.spec.group}`);
        await this.settler.deadLetter(entryId, keys.event(`malformed:${entryId}`), body, problem, attempts[index]);
        continue;
      }
      if (!matchAnyPattern(this.spec.patterns, event.type)) {
        notForUs.push(entryId);
        continue;
      }
      deliveries.push(this.delivery(entryId, body, event, attempts[index]));
    }
    if (notForUs.length > 0) await client.xack(keys.stream, this.spec.group, ...notForUs);
    if (deliveries.length === 0) return;
    // Not awaited: the handlers' acks go out after it on the same connection, so Redis applies it first.
    MARK_PROCESSING.run(
      client,
      deliveries.map(({ event }) => keys.event(event.id)),
      [Date.now()],
    ).catch((error: unknown) => this.context.logger.warn(`Could not mark ${deliveries.length} events processing: ${errorMessage(error)}`));
    for (const delivery of deliveries) this.onDelivery(delivery);
  }

  private delivery(entryId: string, body: string, event: BrokerEvent, attempt: number): Delivery {
    const settle = this.unsettled.track(entryId, entryId, `Delivery of entry ${entryId} to group ${this.spec.group}`);
    event.status = 'processing';
    event.retryCount = attempt - 1;
    return {
      event,
      group: this.spec.group,
      attempt,
      ack: async () => {
        if (settle()) await this.settler.ack(entryId, event.id);
      },
      retry: async (delayMs: number) => {
        if (!settle()) return;
        const dueAt = Date.now() + delayMs;
        this.nextDueAt = Math.min(this.nextDueAt, dueAt);
        await this.settler.retry(entryId, event.id, dueAt, attempt);
        this.wakeAt(dueAt);
      },
      deadLetter: async (error: string, attempts = attempt) => {
        if (settle()) await this.settler.deadLetter(entryId, this.context.keys.event(event.id), body, error, attempts);
      },
    };
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

  /** Resets the idle time of the entries being worked on, so that no other consumer claims them. */
  private async touch(): Promise<void> {
    const ids = this.unsettled.keys();
    if (ids.length === 0) return;
    const { client, keys } = this.context;
    try {
      await client.xclaim(keys.stream, this.spec.group, this.spec.consumerName, 0, ...ids, 'JUSTID');
    } catch (error) {
      this.context.logger.warn(`Could not extend the ack timeout of group ${this.spec.group}: ${errorMessage(error)}`);
    }
  }
}
