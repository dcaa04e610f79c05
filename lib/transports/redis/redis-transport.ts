import { Redis } from 'ioredis';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { consoleBrokerLogger, type BrokerLogger } from '../../core/broker-logger.interface.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { assertPattern, matchPattern } from '../../core/match-pattern.js';
import { cloudEventCodec } from '../cloud-event.codec.js';
import type { EventCodec } from '../event-codec.interface.js';
import { WriteBatcher } from '../write-batcher.js';
import { newestWindow } from '../event-filter.js';
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
import { RunningConsumers } from '../running-consumers.js';
import { TransportState } from '../transport-state.js';
import { RedisDeliverySettler, RedisGroupConsumer, type RedisConsumerContext } from './redis-group-consumer.js';
import { RedisHistory } from './redis-history.js';
import { FORGET_TRIMMED_SCRIPT } from './redis-history-scripts.js';
import { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { PUBLISH_SCRIPT, REGISTER_GROUP_SCRIPT, REPLAY_SCRIPT } from './redis-scripts.js';
import { entryEvent, entryFields, type StreamEntry } from './redis-stream-entry.js';
import { compareIds, nextId } from './redis-stream-ids.js';
import type { RedisTransportOptions } from './redis-transport-options.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { OptionNames } from '../../core/known-options.js';
import { resolveOptions } from '../../core/resolve-options.js';
import { MAX_QUOTED_CHARS, printable, quote } from '../../core/quote-input.js';

const PUBLISH = new RedisScript(PUBLISH_SCRIPT);
const REGISTER_GROUP = new RedisScript(REGISTER_GROUP_SCRIPT);
const REPLAY = new RedisScript(REPLAY_SCRIPT);
const FORGET_TRIMMED = new RedisScript(FORGET_TRIMMED_SCRIPT);

const DEFAULTS = {
  keyPrefix: 'eb',
  maxLen: 100_000,
  ackTimeoutMs: 30_000,
  blockMs: 5000,
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
  retentionMs: true,
  maxDeadLetters: true,
  trimIntervalMs: true,
  codec: true,
};

type Settings = typeof DEFAULTS;

const STREAM_ID = /^\d+-\d+$/;

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

/**
 * Redis Streams: one stream holds every event, one consumer group per subscription group reads
 * it. The stream is the history: an event's status is derived from the groups' state when it is
 * read (`RedisHistory`); dead letters are a stream per group. Durable as far as Redis is (use AOF).
 */
export class RedisTransport implements EventTransport {
  readonly type = 'redis';
  readonly durable = true;
  readonly transactional = false;
  private readonly settings: Settings;
  private readonly codec: EventCodec;
  private readonly publishes = new WriteBatcher<PendingPublish, string>((batch) => this.append(batch));
  private readonly keys: RedisKeys;
  private readonly history: RedisHistory;
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
    this.history = new RedisHistory(() => this.state.connected(), this.keys, this.codec);
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
    try {
      await this.refusePreviousLayout(client);
    } catch (error) {
      if (!this.options.client) client.disconnect();
      throw error;
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
        ack: () => settler.ack(entryId),
        deadLetter: (error, attempts) => settler.deadLetter(entryId, body, error, attempts),
      });
    });
  }

  /** Appends a batch of events in one script call; gives their entry ids. */
  private async append(batch: PendingPublish[]): Promise<PromiseSettledResult<string>[]> {
    const args: (string | number)[] = [this.keys.idPrefix, this.settings.retentionMs];
    for (const { event, body, skip } of batch) {
      args.push(event.id, event.createdAt.getTime(), body, skip, String(event.metadata.traceparent ?? ''));
    }
    const entryIds = (await PUBLISH.run(this.state.connected(), [this.keys.stream, this.keys.skew], args)) as string[];
    return entryIds.map((value) => ({ status: 'fulfilled', value }));
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    const client = this.state.connected();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    await REGISTER_GROUP.run(
      client,
      [this.keys.stream, this.keys.groups],
      [spec.group, JSON.stringify(spec.patterns), spec.fromBeginning ? '0' : '$'],
    );
    return this.consumers.start(new RedisGroupConsumer(this.consumerContext(client), spec, onDelivery, flow));
  }

  get(id: string): Promise<BrokerEvent | null> {
    return this.history.get(id);
  }

  list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    return this.history.list(filter);
  }

  updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    return this.history.updateStatus(id, status, details);
  }

  delete(id: string): Promise<boolean> {
    return this.history.delete(id);
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
        [this.keys.stream, this.keys.dead(group), this.keys.groups, this.keys.outcomes, this.keys.replays],
        [group, entryId, event.id, fields.event, fields.entry ?? ''],
      );
    } catch (error) {
      throw new EventBrokerError(`Cannot replay dead letter ${printable(deadLetterId, MAX_QUOTED_CHARS)}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  async stats(): Promise<RedisTransportStats> {
    const client = this.state.connected();
    const [length, replays, groupInfo] = await Promise.all([
      client.xlen(this.keys.stream),
      client.hlen(this.keys.replays),
      client.xinfo('GROUPS', this.keys.stream).catch(() => []) as Promise<unknown[][]>,
    ]);
    const groups: Record<string, GroupStats> = {};
    const pipeline = client.pipeline();
    const names: string[] = [];
    for (const info of groupInfo) {
      const record = entryFields(info.map((value) => (value === null ? '' : String(value))));
      names.push(record.name);
      // Redis cannot tell the lag of a group that an entry deleted since (`delete`) lies ahead of.
      const unread = record.lag ? Number(record.lag) : await this.countAfter(record['last-delivered-id']);
      groups[record.name] = { pending: unread, inFlight: Number(record.pending), deadLetters: 0 };
      pipeline.xlen(this.keys.dead(record.name));
    }
    const dead = (await pipeline.exec()) ?? [];
    let deadLetters = 0;
    names.forEach((name, index) => {
      groups[name].deadLetters = Number(dead[index]?.[1] ?? 0);
      deadLetters += groups[name].deadLetters;
    });
    return { type: this.type, events: length - replays, deadLetters, groups, streamLength: length };
  }

  /** How many entries the stream holds after `entryId`, read a thousand at a time. */
  private async countAfter(entryId: string): Promise<number> {
    const client = this.state.connected();
    let count = 0;
    for (let from = `(${entryId}`; ;) {
      const entries = (await client.xrange(this.keys.stream, from, '+', 'COUNT', 1000)) as StreamEntry[];
      count += entries.length;
      if (entries.length < 1000) return count;
      from = `(${entries[entries.length - 1][0]}`;
    }
  }

  async close(): Promise<void> {
    if (!this.state.close()) return;
    clearInterval(this.trimTimer);
    await this.consumers.closeAll();
    for (const { tail } of this.tails) tail.end();
    this.tailReader?.disconnect();
    if (!this.options.client) this.state.made?.disconnect();
  }

  /**
   * Refuses keys written by the previous layout, which kept a history record per event beside the
   * stream: this one neither reads nor removes them, and its consumers would mark nothing there.
   */
  private async refusePreviousLayout(client: Redis): Promise<void> {
    if ((await client.exists(this.keys.previousHistory)) === 0) return;
    const prefix = this.settings.keyPrefix;
    throw new EventBrokerError(
      `RedisTransport: key prefix ${prefix} holds a history written by a previous version (${prefix}:history and ${prefix}:event:<id>); ` +
        'this version derives the history from the stream. Stop the instances of the previous version once they are idle, then delete ' +
        `${prefix}:history and the keys ${prefix}:event:* (redis-cli --scan --pattern '${prefix}:event:*' | xargs redis-cli unlink), ` +
        'or use a new keyPrefix. The stream, its consumer groups and the dead letters are kept as they are.',
    );
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
    const { ackTimeoutMs, blockMs, maxDeadLetters, retentionMs } = this.settings;
    return { client, keys: this.keys, ackTimeoutMs, blockMs, maxDeadLetters, retentionMs, logger: this.logger, codec: this.codec };
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
          const event = entryEvent(entryFields(rawFields), this.codec);
          if (!event) continue;
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
   * Drops the entries older than `retentionMs` and the oldest beyond `maxLen`, but none that a
   * group has not read or acked yet (whole macro nodes, `~`, so that no entry is fetched: a backlog
   * may hold millions), then what concerned only the entries dropped.
   */
  private async trim(): Promise<void> {
    const client = this.state.connected();
    const { stream, outcomes, replays, overrides, groups } = this.keys;
    const length = await client.xlen(stream);
    if (length === 0) return;
    const unconsumed = await this.oldestUnconsumed(client);
    const expired = `${Date.now() - this.settings.retentionMs}-0`;
    let trimmed = await client.xtrim(stream, 'MINID', '~', unconsumed && compareIds(unconsumed, expired) < 0 ? unconsumed : expired);
    const excess = length - trimmed - this.settings.maxLen;
    if (excess > 0) {
      trimmed += unconsumed
        ? await client.xtrim(stream, 'MINID', '~', unconsumed, 'LIMIT', excess)
        : await client.xtrim(stream, 'MAXLEN', '~', this.settings.maxLen);
    }
    if (trimmed === 0) return;
    const progress = (await client.hkeys(groups)).flatMap((group) => [this.keys.delivered(group), this.keys.acked(group)]);
    await FORGET_TRIMMED.run(client, [stream, outcomes, replays, overrides, ...progress], []);
  }

  /** The oldest entry some group has not read or not acked yet; `undefined` without groups. */
  private async oldestUnconsumed(client: Redis): Promise<string | undefined> {
    const groups = (await client.xinfo('GROUPS', this.keys.stream)) as unknown[][];
    let oldest: string | undefined;
    for (const info of groups) {
      const record = entryFields(info.map(String));
      const undelivered = nextId(record['last-delivered-id']);
      if (oldest === undefined || compareIds(undelivered, oldest) < 0) oldest = undelivered;
      if (Number(record.pending) > 0) {
        const [pending] = (await client.xpending(this.keys.stream, record.name, '-', '+', 1)) as [string, ...unknown[]][];
        if (pending && compareIds(pending[0], oldest) < 0) oldest = pending[0];
      }
    }
    return oldest;
  }
}
