import { Redis } from 'ioredis';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { consoleBrokerLogger, type BrokerLogger } from '../../core/broker-logger.interface.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { assertPattern, matchPattern } from '../../core/match-pattern.js';
import { cloudEventCodec } from '../cloud-event.codec.js';
import type { EventCodec } from '../event-codec.interface.js';
import { WriteBatcher } from '../write-batcher.js';
import { assertEventFilter, DEFAULT_LIST_LIMIT, matchesFilter, newestWindow } from '../event-filter.js';
import type { DeadLetter, DeadLetterFilter } from '../../core/dead-letter-store.interface.js';
import type { EventFilter, StatusDetails } from '../../core/event-history.interface.js';
import type {
  Consumer,
  ConsumerSpec,
  Delivery,
  EventTransport,
  FlowControl,
  GroupStats,
  PublishOptions,
  TransportContext,
  TransportStats,
} from '../../core/event-transport.interface.js';
import { DEFAULT_TRANSPORT_CONTEXT } from '../default-transport-context.js';
import { inlineDelivery } from '../inline-delivery.js';
import { formatDeadLetterId, parseDeadLetterId, unknownDeadLetter } from '../dead-letter-id.js';
import { LiveTail } from '../live-tail.js';
import { unreadableMessageEvent } from '../unreadable-message-event.js';
import { unknownEvent } from '../unknown-event.js';
import { RunningConsumers } from '../running-consumers.js';
import { TransportState } from '../transport-state.js';
import {
  entryFields,
  RedisDeliverySettler,
  RedisGroupConsumer,
  type RedisConsumerContext,
  type StreamEntry,
} from './redis-group-consumer.js';
import { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { PUBLISH_SCRIPT, REGISTER_GROUP_SCRIPT, REPLAY_SCRIPT } from './redis-scripts.js';
import type { RedisTransportOptions } from './redis-transport-options.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { OptionNames } from '../../core/known-options.js';
import { resolveOptions } from '../../core/resolve-options.js';
import { MAX_QUOTED_CHARS, printable, quote } from '../../core/quote-input.js';

const PUBLISH = new RedisScript(PUBLISH_SCRIPT);
const REGISTER_GROUP = new RedisScript(REGISTER_GROUP_SCRIPT);
const REPLAY = new RedisScript(REPLAY_SCRIPT);

const DEFAULTS = {
  keyPrefix: 'eb',
  maxLen: 100_000,
  ackTimeoutMs: 30_000,
  blockMs: 5000,
  maxEvents: 10_000,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  maxDeadLetters: 10_000,
  trimIntervalMs: 10_000,
};

/** Every option of `RedisTransportOptions`: anything else is refused. */
const OPTION_NAMES: OptionNames<RedisTransportOptions> = {
  url: true,
  host: true,
  port: true,
  username: true,
  password: true,
  db: true,
  tls: true,
  client: true,
  keyPrefix: true,
  maxLen: true,
  ackTimeoutMs: true,
  blockMs: true,
  maxEvents: true,
  retentionMs: true,
  maxDeadLetters: true,
  trimIntervalMs: true,
  codec: true,
};

type Settings = typeof DEFAULTS;

const HISTORY_CHUNK = 200;
const STREAM_ID = /^\d+-\d+$/;

/** `a` compared with `b`, as stream ids `<ms>-<seq>`. */
function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(Number);
  const [bMs, bSeq] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}

function nextId(id: string): string {
  const [ms, seq] = id.split('-').map(Number);
  return `${ms}-${seq + 1}`;
}

export interface RedisTransportStats extends TransportStats {
  /** Entries in the stream, consumed or not. */
  streamLength: number;
}

/** A publish waiting for its batch: the event, its encoded body, the groups that skip it. */
interface PendingPublish {
  event: BrokerEvent;
  body: string;
  skip: string;
}

/** An event of the history, from its hash. */
function historyEvent(codec: EventCodec, record: Record<string, string>): BrokerEvent | null {
  if (record.event === undefined) return null;
  const event = codec.decode(record.event);
  event.status = (record.status ?? 'pending') as EventStatus;
  event.retryCount = Number(record.retryCount ?? 0);
  if (record.error !== undefined) event.error = record.error;
  if (record.processedAt !== undefined) event.processedAt = new Date(Number(record.processedAt));
  if (record.completedAt !== undefined) event.completedAt = new Date(Number(record.completedAt));
  return event;
}

/**
 * Redis Streams: one stream holds every event, one consumer group per subscription group reads
 * it; history, status and dead letters live in Redis too. Durable as far as Redis is (use AOF).
 */
export class RedisTransport implements EventTransport {
  readonly type = 'redis';
  readonly durable = true;
  readonly transactional = false;
  private readonly settings: Settings;
  private readonly codec: EventCodec;
  private readonly publishes = new WriteBatcher<PendingPublish, string>((batch) => this.append(batch));
  private readonly keys: RedisKeys;
  private logger: BrokerLogger = consoleBrokerLogger;
  private readonly consumers = new RunningConsumers();
  private readonly tails = new Set<{ pattern: string; tail: LiveTail<BrokerEvent> }>();
  private tailReader?: Redis;
  private trimTimer?: NodeJS.Timeout;
  private readonly state = new TransportState<Redis>('RedisTransport');

  constructor(private readonly options: RedisTransportOptions = {}) {
    this.settings = resolveOptions('RedisTransport', DEFAULTS, options, OPTION_NAMES);
    this.codec = options.codec ?? cloudEventCodec;
    if (!/^[A-Za-z0-9_.:{}-]+$/.test(this.settings.keyPrefix)) {
      throw new EventBrokerError(`RedisTransport option keyPrefix must use [A-Za-z0-9_.:{}-], got ${quote(this.settings.keyPrefix)}`);
    }
    this.keys = new RedisKeys(this.settings.keyPrefix);
  }

  async connect(context: TransportContext = DEFAULT_TRANSPORT_CONTEXT): Promise<void> {
    this.state.assertOpen();
    this.logger = context.logger;
    if (this.state.made) return;
    const client = this.options.client ?? this.createClient();
    this.watch(client);
    if (!this.options.client) {
      try {
        await client.connect();
      } catch (error) {
        client.disconnect();
        const { host, port } = client.options;
        throw new EventBrokerError(`Cannot reach Redis at ${host}:${port}: ${errorMessage(error)}`, { cause: error });
      }
    }
    this.state.connectedWith(client);
    this.trimTimer = setInterval(() => {
      this.trim().catch((error: unknown) => this.logger.warn(`Could not trim ${this.keys.stream}: ${errorMessage(error)}`));
    }, this.settings.trimIntervalMs);
    this.trimTimer.unref();
  }

  async publish(event: BrokerEvent, options: PublishOptions = {}): Promise<Delivery[]> {
    const client = this.state.connected();
    const claimGroups = options.claimGroups ?? [];
    const body = this.codec.encode(event);
    const entryId = await this.publishes.add({ event, body, skip: claimGroups.join(',') });
    return claimGroups.map((group) => {
      // The group's consumers skip the entry (its `skip` field).
      const settler = new RedisDeliverySettler(this.consumerContext(client), group, 'inline');
      return inlineDelivery(event, group, {
        ack: () => settler.ack(entryId, event.id),
        deadLetter: (error, attempts) => settler.deadLetter(entryId, this.keys.event(event.id), body, error, attempts),
      });
    });
  }

  /** Appends a batch of events in one script call; gives their entry ids. */
  private async append(batch: PendingPublish[]): Promise<PromiseSettledResult<string>[]> {
    const { retentionMs, maxEvents } = this.settings;
    const args: (string | number)[] = [retentionMs, maxEvents, this.keys.eventPrefix, Date.now()];
    for (const { event, body, skip } of batch) {
      args.push(body, event.id, event.createdAt.getTime(), event.type, skip, String(event.metadata.traceparent ?? ''));
    }
    const entryIds = (await PUBLISH.run(this.state.connected(), [this.keys.stream, this.keys.groups, this.keys.history], args)) as string[];
    return entryIds.map((value) => ({ status: 'fulfilled', value }));
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    const client = this.state.connected();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    await REGISTER_GROUP.run(
      client,
      [this.keys.stream, this.keys.groups],
      [spec.group, JSON.stringify({ patterns: spec.patterns }), spec.fromBeginning ? '0' : '$'],
    );
    return this.consumers.start(new RedisGroupConsumer(this.consumerContext(client), spec, onDelivery, flow));
  }

  async get(id: string): Promise<BrokerEvent | null> {
    return historyEvent(this.codec, await this.state.connected().hgetall(this.keys.event(id)));
  }

  /** Walks the history from the newest event back until the window of `filter` is full. */
  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    const client = this.state.connected();
    const wanted = (filter.offset ?? 0) + (filter.limit ?? DEFAULT_LIST_LIMIT);
    const max = filter.until ? filter.until.getTime() : '+inf';
    const min = filter.since ? filter.since.getTime() : '-inf';
    const newestFirst: BrokerEvent[] = [];
    for (let skip = 0; newestFirst.length < wanted; skip += HISTORY_CHUNK) {
      const ids = await client.zrevrangebyscore(this.keys.history, max, min, 'LIMIT', skip, HISTORY_CHUNK);
      if (ids.length === 0) break;
      const pipeline = client.pipeline();
      for (const id of ids) pipeline.hgetall(this.keys.event(id));
      for (const [, record] of (await pipeline.exec()) ?? []) {
        const event = historyEvent(this.codec, record as Record<string, string>);
        if (event && matchesFilter(event, filter)) newestFirst.push(event);
      }
    }
    return newestWindow(newestFirst.slice(0, wanted).toReversed(), filter);
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    const client = this.state.connected();
    const key = this.keys.event(id);
    if (!(await client.exists(key))) throw unknownEvent(id);
    const fields: Record<string, string | number> = { status };
    if (details.error !== undefined) fields.error = details.error;
    if (details.processedAt) fields.processedAt = details.processedAt.getTime();
    if (details.completedAt) fields.completedAt = details.completedAt.getTime();
    await client.hset(key, fields);
  }

  async delete(id: string): Promise<boolean> {
    const client = this.state.connected();
    const [[, deleted]] = ((await client.multi().del(this.keys.event(id)).zrem(this.keys.history, id).exec()) ?? []) as [
      [Error | null, number],
    ];
    return deleted > 0;
  }

  stream(pattern: string): AsyncIterable<BrokerEvent> {
    assertPattern(pattern);
    const client = this.state.connected();
    const entry = { pattern, tail: new LiveTail<BrokerEvent>(() => this.tails.delete(entry)) };
    this.tails.add(entry);
    if (!this.tailReader) void this.followStream(client);
    return entry.tail;
  }

  async deadLetters(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const client = this.state.connected();
    const groups = filter.group !== undefined ? [filter.group] : await client.hkeys(this.keys.groups);
    const pipeline = client.pipeline();
    for (const group of groups) pipeline.xrange(this.keys.dead(group), '-', '+');
    const results = (await pipeline.exec()) ?? [];
    const letters = groups.flatMap((group, index) =>
      ((results[index]?.[1] ?? []) as StreamEntry[]).map(([entryId, fields]) => this.deadLetter(group, entryId, entryFields(fields))),
    );
    letters.sort((a, b) => a.deadLetteredAt.getTime() - b.deadLetteredAt.getTime());
    return newestWindow(letters, filter);
  }

  async replay(deadLetterId: string): Promise<void> {
    const client = this.state.connected();
    const { key: entryId, group } = parseDeadLetterId(deadLetterId);
    const [found] = STREAM_ID.test(entryId) ? ((await client.xrange(this.keys.dead(group), entryId, entryId)) as StreamEntry[]) : [];
    if (!found) throw unknownDeadLetter(deadLetterId);
    const fields = entryFields(found[1]);
    let event: BrokerEvent;
    try {
      event = this.codec.decode(fields.event ?? '');
    } catch (error) {
      throw new EventBrokerError(
        `Cannot replay dead letter ${printable(deadLetterId, MAX_QUOTED_CHARS)}: its message is unreadable (${printable(errorMessage(error))})`,
        {
          cause: error,
        },
      );
    }
    try {
      await REPLAY.run(
        client,
        [this.keys.stream, this.keys.event(event.id), this.keys.dead(group), this.keys.groups],
        [group, entryId, fields.event],
      );
    } catch (error) {
      throw new EventBrokerError(`Cannot replay dead letter ${printable(deadLetterId, MAX_QUOTED_CHARS)}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  async stats(): Promise<RedisTransportStats> {
    const client = this.state.connected();
    const [events, length, groupInfo] = await Promise.all([
      client.zcard(this.keys.history),
      client.xlen(this.keys.stream),
      client.xinfo('GROUPS', this.keys.stream).catch(() => []) as Promise<unknown[][]>,
    ]);
    const groups: Record<string, GroupStats> = {};
    const pipeline = client.pipeline();
    const names: string[] = [];
    for (const info of groupInfo) {
      const record = entryFields(info.map(String));
      names.push(record.name);
      groups[record.name] = { pending: Number(record.lag ?? 0), inFlight: Number(record.pending ?? 0), deadLetters: 0 };
      pipeline.xlen(this.keys.dead(record.name));
    }
    const dead = (await pipeline.exec()) ?? [];
    let deadLetters = 0;
    names.forEach((name, index) => {
      groups[name].deadLetters = Number(dead[index]?.[1] ?? 0);
      deadLetters += groups[name].deadLetters;
    });
    return { type: this.type, events, deadLetters, groups, streamLength: length };
  }

  async close(): Promise<void> {
    if (!this.state.close()) return;
    clearInterval(this.trimTimer);
    await this.consumers.closeAll();
    for (const { tail } of this.tails) tail.end();
    this.tailReader?.disconnect();
    if (!this.options.client) this.state.made?.disconnect();
  }

  private createClient(): Redis {
    const { url, host, port, username, password, db, tls } = this.options;
    const common = { lazyConnect: true, tls: tls === true ? {} : tls || undefined };
    return url ? new Redis(url, common) : new Redis({ host: host ?? '127.0.0.1', port: port ?? 6379, username, password, db, ...common });
  }

  /** Logs a lost connection once and its return once, instead of every reconnect attempt. */
  private watch(client: Redis): void {
    let lost = false;
    client.on('error', (error: Error) => {
      if (lost || this.state.closed) return;
      lost = true;
      this.logger.warn(`Redis connection to ${client.options.host}:${client.options.port} lost, reconnecting: ${error.message}`);
    });
    client.on('ready', () => {
      if (!lost) return;
      lost = false;
      this.logger.log(`Redis connection to ${client.options.host}:${client.options.port} is back`);
    });
  }

  private consumerContext(client: Redis): RedisConsumerContext {
    const { ackTimeoutMs, blockMs, maxDeadLetters } = this.settings;
    return { client, keys: this.keys, ackTimeoutMs, blockMs, maxDeadLetters, logger: this.logger, codec: this.codec };
  }

  private deadLetter(group: string, entryId: string, fields: Record<string, string>): DeadLetter {
    let event: BrokerEvent;
    try {
      event = this.codec.decode(fields.event ?? '');
      event.status = 'failed';
      event.error = fields.error;
      event.retryCount = Math.max(0, Number(fields.attempts) - 1);
    } catch {
      event = unreadableMessageEvent(fields.entry ?? entryId, fields.event ?? null, fields.error ?? '', new Date(Number(fields.at)));
    }
    return {
      id: formatDeadLetterId(entryId, group),
      event,
      group,
      error: fields.error ?? '',
      attempts: Number(fields.attempts ?? 1),
      deadLetteredAt: new Date(Number(fields.at)),
    };
  }

  /** Feeds the live tails from a reader of new stream entries (replays are not new events). */
  private async followStream(client: Redis): Promise<void> {
    // The newest entry, asked on the publishing connection before any later publish: the tail
    // starts right after it, not at whatever is newest once the reader has connected.
    const newest = client.xrevrange(this.keys.stream, '+', '-', 'COUNT', 1);
    const reader = client.duplicate();
    reader.on('error', () => undefined);
    this.tailReader = reader;
    let lastId = '$';
    try {
      lastId = (await newest)[0]?.[0] ?? '0-0';
    } catch (error) {
      this.logger.warn(`Live tail of ${this.keys.stream} starts at the next new entry: ${errorMessage(error)}`);
    }
    while (!this.state.closed && this.tails.size > 0) {
      try {
        const result = (await reader.xread('COUNT', 100, 'BLOCK', this.settings.blockMs, 'STREAMS', this.keys.stream, lastId)) as
          [string, StreamEntry[]][] | null;
        for (const [entryId, rawFields] of result?.[0]?.[1] ?? []) {
          lastId = entryId;
          const fields = entryFields(rawFields);
          if (fields.only !== undefined || fields.event === undefined) continue;
          let event: BrokerEvent;
          try {
            event = this.codec.decode(fields.event);
          } catch {
            continue;
          }
          for (const { pattern, tail } of this.tails) if (matchPattern(pattern, event.type)) tail.push({ ...event });
        }
      } catch (error) {
        if (this.state.closed) break;
        this.logger.warn(`Live tail of ${this.keys.stream} failed, retrying: ${errorMessage(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    reader.disconnect();
    if (this.tailReader === reader) this.tailReader = undefined;
  }

  /**
   * Drops the oldest entries beyond `maxLen`, but none that a group has not read or acked yet:
   * entries before the first of those, at most the excess (whole macro nodes, `~`), so that no
   * entry is fetched (a backlog may hold millions).
   */
  private async trim(): Promise<void> {
    const client = this.state.connected();
    const excess = (await client.xlen(this.keys.stream)) - this.settings.maxLen;
    if (excess <= 0) return;
    const groups = (await client.xinfo('GROUPS', this.keys.stream)) as unknown[][];
    if (groups.length === 0) {
      await client.xtrim(this.keys.stream, 'MAXLEN', '~', this.settings.maxLen);
      return;
    }
    let safe: string | undefined;
    for (const info of groups) {
      const record = entryFields(info.map(String));
      const undelivered = nextId(record['last-delivered-id']);
      if (safe === undefined || compareIds(undelivered, safe) < 0) safe = undelivered;
      if (Number(record.pending) > 0) {
        const [oldest] = (await client.xpending(this.keys.stream, record.name, '-', '+', 1)) as [string, ...unknown[]][];
        if (oldest && compareIds(oldest[0], safe) < 0) safe = oldest[0];
      }
    }
    await client.xtrim(this.keys.stream, 'MINID', '~', safe as string, 'LIMIT', excess);
  }
}
