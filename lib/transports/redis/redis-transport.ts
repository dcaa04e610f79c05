import { Cluster, Redis } from 'ioredis';
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
import { partitionKeyOf, partitionOf } from '../../core/partition-key.js';
import { unreadableMessageEvent } from '../unreadable-message-event.js';
import { RunningConsumers } from '../running-consumers.js';
import { TransportState } from '../transport-state.js';
import { RedisDeliverySettler, RedisGroupConsumer, type RedisConsumerContext } from './redis-group-consumer.js';
import { RedisOrderedGroupConsumer } from './redis-ordered-group-consumer.js';
import { RedisHistory } from './redis-history.js';
import { FORGET_TRIMMED_SCRIPT } from './redis-history-scripts.js';
import { describeClient, type RedisClient } from './redis-client.js';
import { RedisLayout, type RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { PUBLISH_SCRIPT, REGISTER_GROUP_SCRIPT, REPLAY_SCRIPT } from './redis-scripts.js';
import { entryFields, type StreamEntry } from './redis-stream-entry.js';
import { RedisStreamFollower } from './redis-stream-follower.js';
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
  partitions: 1,
  waitTimeoutMs: 1000,
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
  cluster: true,
  keyPrefix: true,
  partitions: true,
  waitReplicas: true,
  waitTimeoutMs: true,
  maxLen: true,
  ackTimeoutMs: true,
  blockMs: true,
  retentionMs: true,
  maxDeadLetters: true,
  trimIntervalMs: true,
  codec: true,
};

type Settings = typeof DEFAULTS;

/** The key of a dead letter's id: its partition and its entry id in the partition's dead-letter stream. */
const DEAD_LETTER_KEY = /^(\d+)\/(\d+-\d+)$/;

/** The hash tag of a key, as Redis Cluster finds it: between the first `{` and the next `}`, if not empty. */
const HASH_TAG = /^[^{]*\{[^}]+\}/;

export interface RedisTransportStats extends TransportStats {
  /** Entries in the streams of all partitions, consumed or not. */
  streamLength: number;
}

/** A publish waiting for its batch: the event, its partition, its encoded body, the groups that skip it. */
interface PendingPublish {
  event: BrokerEvent;
  partition: number;
  body: string;
  skip: string;
}

/**
 * Redis Streams: a stream per partition holds the events of the partition (one partition unless
 * `partitions` says more), one consumer group per subscription group reads each. The streams are
 * the history: an event's status is derived from the groups' state when it is read
 * (`RedisHistory`); dead letters are a stream per group and partition. Every script touches the
 * keys of one partition, which share a hash tag: it runs on a Redis Cluster. Durable as far as
 * Redis is (use AOF; in a cluster, `waitReplicas`).
 */
export class RedisTransport implements EventTransport {
  readonly type = 'redis';
  readonly durable = true;
  readonly transactional = false;
  readonly orderedGroups = true;
  private readonly settings: Settings;
  private readonly codec: EventCodec;
  private readonly publishes = new WriteBatcher<PendingPublish, string>((batch) => this.append(batch));
  private readonly layout: RedisLayout;
  private readonly partitions: readonly RedisKeys[];
  private readonly waitReplicas: number;
  private readonly history: RedisHistory;
  private logger: BrokerLogger = consoleBrokerLogger;
  private readonly consumers = new RunningConsumers();
  private readonly tails = new Set<{ pattern: string; tail: LiveTail<BrokerEvent> }>();
  private follower?: RedisStreamFollower;
  private trimTimer?: NodeJS.Timeout;
  private readonly state = new TransportState<RedisClient>('RedisTransport');

  constructor(private readonly options: RedisTransportOptions = {}) {
    this.settings = resolveOptions('RedisTransport', DEFAULTS, options, OPTION_NAMES);
    this.codec = options.codec ?? cloudEventCodec;
    const { keyPrefix, partitions } = this.settings;
    if (!/^[A-Za-z0-9_.:{}-]+$/.test(keyPrefix)) {
      throw new EventBrokerError(`RedisTransport option keyPrefix must use [A-Za-z0-9_.:{}-], got ${quote(keyPrefix)}`);
    }
    this.waitReplicas = options.waitReplicas ?? 0;
    if (!Number.isInteger(this.waitReplicas) || this.waitReplicas < 0) {
      throw new EventBrokerError(`RedisTransport option waitReplicas must be an integer of 0 or more, got ${quote(options.waitReplicas)}`);
    }
    if (options.cluster) {
      const { nodes } = options.cluster;
      const single = (['client', 'url', 'host', 'port', 'db'] as const).filter((name) => options[name] !== undefined);
      if (single.length > 0) {
        throw new EventBrokerError(
          `RedisTransport option cluster takes the nodes to connect to in cluster.nodes: ${single.join(', ')} cannot be given with it ` +
            '(a Redis Cluster has one database)',
        );
      }
      if (!Array.isArray(nodes) || nodes.length === 0) {
        throw new EventBrokerError(`RedisTransport option cluster.nodes must list at least one node ({ host, port }), got ${quote(nodes)}`);
      }
    }
    if (partitions > 1 && /[{}]/.test(keyPrefix)) {
      throw new EventBrokerError(
        `RedisTransport option keyPrefix ${quote(keyPrefix)} holds a hash tag: with partitions ${partitions} every partition gets a tag of its own; drop the braces`,
      );
    }
    const cluster = options.cluster !== undefined || options.client?.isCluster === true;
    if (cluster && partitions === 1 && !HASH_TAG.test(keyPrefix)) {
      throw new EventBrokerError(
        `RedisTransport on a Redis Cluster needs keys that a script can use together: set partitions to 2 or more (each partition's ` +
          `keys share a slot of their own), or keep one partition under a keyPrefix with a hash tag such as {${keyPrefix}} (every key ` +
          `in one slot); got keyPrefix ${quote(keyPrefix)} and partitions 1`,
      );
    }
    this.layout = new RedisLayout(keyPrefix, partitions);
    this.partitions = this.layout.partitions;
    this.history = new RedisHistory(() => this.state.connected(), this.partitions, this.codec);
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
        throw new EventBrokerError(`Cannot reach Redis at ${this.address(client)}: ${errorMessage(error)}`, { cause: error });
      }
    }
    try {
      await this.refusePreviousLayout(client);
      await this.refuseOtherPartitionCount(client);
    } catch (error) {
      if (!this.options.client) client.disconnect();
      throw error;
    }
    this.state.connectedWith(client);
    this.trimTimer = setInterval(() => {
      this.trim().catch((error: unknown) =>
        this.logger.warn(`Could not trim the streams of ${this.settings.keyPrefix}: ${errorMessage(error)}`),
      );
    }, this.settings.trimIntervalMs);
    this.trimTimer.unref();
  }

  async publish(event: BrokerEvent, options: PublishOptions = {}): Promise<Delivery[]> {
    const client = this.state.connected();
    const claimGroups = options.claimGroups ?? [];
    const body = this.codec.encode(event);
    const partition = partitionOf(partitionKeyOf(event), this.partitions.length);
    const entryId = await this.publishes.add({ event, partition, body, skip: claimGroups.join(',') });
    return claimGroups.map((group) => {
      // The group's consumers skip the entry (its `skip` field).
      const settler = new RedisDeliverySettler(this.consumerContext(client), this.partitions[partition], group, 'inline');
      return inlineDelivery(event, group, {
        ack: () => settler.ack(entryId),
        deadLetter: (error, attempts) => settler.deadLetter(entryId, body, error, attempts),
      });
    });
  }

  /** Appends a batch of events, one script call per partition; gives their entry ids, or the error of their partition. */
  private async append(batch: PendingPublish[]): Promise<PromiseSettledResult<string>[]> {
    const byPartition = new Map<number, number[]>();
    batch.forEach(({ partition }, index) => {
      const indexes = byPartition.get(partition) ?? [];
      indexes.push(index);
      byPartition.set(partition, indexes);
    });
    const outcomes: PromiseSettledResult<string>[] = [];
    await Promise.all(
      [...byPartition].map(async ([partition, indexes]) => {
        try {
          const entryIds = await this.appendTo(
            this.partitions[partition],
            indexes.map((index) => batch[index]),
          );
          indexes.forEach((index, n) => (outcomes[index] = { status: 'fulfilled', value: entryIds[n] }));
        } catch (reason) {
          for (const index of indexes) outcomes[index] = { status: 'rejected', reason };
        }
      }),
    );
    return outcomes;
  }

  /**
   * Appends events of one partition in one script call; with `waitReplicas`, waits on the same
   * connection until that many replicas have the writes, and fails when fewer acknowledged them.
   */
  private async appendTo(keys: RedisKeys, batch: PendingPublish[]): Promise<string[]> {
    const args: (string | number)[] = [keys.idPrefix, this.settings.retentionMs];
    for (const { event, body, skip } of batch) {
      args.push(event.id, event.createdAt.getTime(), body, skip, String(event.metadata.traceparent ?? ''));
    }
    const client = this.state.connected();
    if (this.waitReplicas === 0) return (await PUBLISH.run(client, [keys.stream, keys.skew], args)) as string[];
    const { waitTimeoutMs } = this.settings;
    const { reply, replicas } = await PUBLISH.runAndWait(client, [keys.stream, keys.skew], args, this.waitReplicas, waitTimeoutMs);
    if (replicas < this.waitReplicas) {
      throw new EventBrokerError(
        `Redis stored the event in ${keys.stream}, but only ${replicas} of the ${this.waitReplicas} replicas asked for (waitReplicas) ` +
          `acknowledged it within ${waitTimeoutMs} ms: a failover may lose it. Publish it again (a publish of an event id ` +
          'that is stored is a no-op)',
      );
    }
    return reply as string[];
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    const client = this.state.connected();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    await Promise.all(
      this.partitions.map((keys) =>
        REGISTER_GROUP.run(client, [keys.stream, keys.groups], [spec.group, JSON.stringify(spec.patterns), spec.fromBeginning ? '0' : '$']),
      ),
    );
    await this.assertSameOrdering(client, spec);
    if (!spec.ordered) return this.consumers.start(new RedisGroupConsumer(this.consumerContext(client), spec, onDelivery, flow));
    const consumer = new RedisOrderedGroupConsumer(this.consumerContext(client), spec, onDelivery, flow);
    await consumer.join();
    return this.consumers.start(consumer);
  }

  /**
   * Refuses a consumer that orders the group otherwise than its running consumers: the ordered
   * ones are the live members of the group (they heartbeat); without them, the unordered ones are
   * those holding entries of the group that they still work on (idle less than an ack timeout).
   */
  private async assertSameOrdering(client: RedisClient, spec: ConsumerSpec): Promise<void> {
    const { group, consumerName } = spec;
    const ordered = await client.zcount(this.layout.members(group), Date.now(), '+inf');
    if (spec.ordered && ordered > 0) return;
    let held = 0;
    if (!spec.ordered) held = ordered;
    else {
      const consumers = await Promise.all(
        this.partitions.map((keys) => client.xinfo('CONSUMERS', keys.stream, group) as Promise<unknown[][]>),
      );
      for (const info of consumers.flat()) {
        const record = entryFields(info.map(String));
        if (record.name !== consumerName && Number(record.idle) < this.settings.ackTimeoutMs) held += Number(record.pending);
      }
    }
    if (held === 0) return;
    const [consumed, asked, holding] = spec.ordered
      ? ['unordered', 'ordered', `they hold ${held} of its entries`]
      : ['ordered', 'unordered', `${held} of them are live`];
    throw new EventBrokerError(
      `Group ${group} is consumed ${consumed} by other instances (${holding}); ` +
        `a consumer of the same group cannot consume it ${asked} (give every consumer of a group the same ordered option)`,
    );
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
    const entry = {
      pattern,
      tail: new LiveTail<BrokerEvent>(() => {
        this.tails.delete(entry);
        if (this.tails.size > 0) return;
        this.follower?.stop();
        this.follower = undefined;
      }),
    };
    this.tails.add(entry);
    this.follower ??= new RedisStreamFollower({
      client,
      partitions: this.partitions,
      blockMs: this.settings.blockMs,
      logger: this.logger,
      codec: this.codec,
      onEvent: (event) => {
        for (const { pattern: tailPattern, tail } of this.tails) if (matchPattern(tailPattern, event.type)) tail.push({ ...event });
      },
    });
    return entry.tail;
  }

  async deadLetters(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const client = this.state.connected();
    const groups = filter.group !== undefined ? [filter.group] : await this.groupNames(client);
    const lists = await Promise.all(
      this.partitions.flatMap((keys) =>
        groups.map(async (group) =>
          ((await client.xrange(keys.dead(group), '-', '+')) as StreamEntry[]).map(([entryId, fields]) =>
            this.deadLetter(keys, group, entryId, entryFields(fields)),
          ),
        ),
      ),
    );
    const letters = lists.flat();
    letters.sort((a, b) => a.deadLetteredAt.getTime() - b.deadLetteredAt.getTime());
    return newestWindow(letters, filter);
  }

  async replay(deadLetterId: string): Promise<void> {
    const client = this.state.connected();
    const { key, group } = parseDeadLetterId(deadLetterId);
    const [, partition, entryId] = DEAD_LETTER_KEY.exec(key) ?? [];
    const keys = partition === undefined ? undefined : this.partitions[Number(partition)];
    const [found] = keys ? ((await client.xrange(keys.dead(group), entryId, entryId)) as StreamEntry[]) : [];
    if (!keys || !found) throw unknownDeadLetter(deadLetterId);
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
        [keys.stream, keys.dead(group), keys.groups, keys.outcomes, keys.replays],
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
    const partitions = await Promise.all(this.partitions.map((keys) => this.partitionStats(client, keys)));
    const groups: Record<string, GroupStats> = {};
    let events = 0;
    let deadLetters = 0;
    let streamLength = 0;
    for (const partition of partitions) {
      events += partition.events;
      streamLength += partition.streamLength;
      for (const [name, stats] of Object.entries(partition.groups)) {
        const total = (groups[name] ??= { pending: 0, inFlight: 0, deadLetters: 0 });
        total.pending += stats.pending;
        total.inFlight += stats.inFlight;
        total.deadLetters += stats.deadLetters;
        deadLetters += stats.deadLetters;
      }
    }
    return { type: this.type, events, deadLetters, groups, streamLength };
  }

  /** The counts of one partition. */
  private async partitionStats(
    client: RedisClient,
    keys: RedisKeys,
  ): Promise<{ events: number; streamLength: number; groups: Record<string, GroupStats> }> {
    const [length, replays, groupInfo] = await Promise.all([
      client.xlen(keys.stream),
      client.hlen(keys.replays),
      client.xinfo('GROUPS', keys.stream).catch(() => []) as Promise<unknown[][]>,
    ]);
    const groups: Record<string, GroupStats> = {};
    await Promise.all(
      groupInfo.map(async (info) => {
        const record = entryFields(info.map((value) => (value === null ? '' : String(value))));
        const [unread, deadLetters] = await Promise.all([
          // Redis cannot tell the lag of a group that an entry deleted since (`delete`) lies ahead of.
          record.lag ? Number(record.lag) : this.countAfter(client, keys, record['last-delivered-id']),
          client.xlen(keys.dead(record.name)),
        ]);
        groups[record.name] = { pending: unread, inFlight: Number(record.pending), deadLetters };
      }),
    );
    return { events: length - replays, streamLength: length, groups };
  }

  /** How many entries the partition's stream holds after `entryId`, read a thousand at a time. */
  private async countAfter(client: RedisClient, keys: RedisKeys, entryId: string): Promise<number> {
    let count = 0;
    for (let from = `(${entryId}`; ;) {
      const entries = (await client.xrange(keys.stream, from, '+', 'COUNT', 1000)) as StreamEntry[];
      count += entries.length;
      if (entries.length < 1000) return count;
      from = `(${entries[entries.length - 1][0]}`;
    }
  }

  /** The groups registered in any partition (a consumer registers its group in each, one after the other). */
  private async groupNames(client: RedisClient): Promise<string[]> {
    const names = await Promise.all(this.partitions.map((keys) => client.hkeys(keys.groups)));
    return [...new Set(names.flat())];
  }

  async close(): Promise<void> {
    if (!this.state.close()) return;
    clearInterval(this.trimTimer);
    await this.consumers.closeAll();
    for (const { tail } of this.tails) tail.end();
    this.follower?.stop();
    if (!this.options.client) this.state.made?.disconnect();
  }

  /**
   * Refuses keys written by the previous layout, which kept a history record per event beside the
   * stream: this one neither reads nor removes them, and its consumers would mark nothing there.
   */
  private async refusePreviousLayout(client: RedisClient): Promise<void> {
    if ((await client.exists(this.layout.previousHistory)) === 0) return;
    const prefix = this.settings.keyPrefix;
    throw new EventBrokerError(
      `RedisTransport: key prefix ${prefix} holds a history written by a previous version (${prefix}:history and ${prefix}:event:<id>); ` +
        'this version derives the history from the stream. Stop the instances of the previous version once they are idle, then delete ' +
        `${prefix}:history and the keys ${prefix}:event:* (redis-cli --scan --pattern '${prefix}:event:*' | xargs redis-cli unlink), ` +
        'or use a new keyPrefix. The stream, its consumer groups and the dead letters are kept as they are.',
    );
  }

  /**
   * Records the partition count of the prefix on its first use, and refuses another one: which
   * partition an event is in depends on the count. Data written before partitions existed (a
   * stream and no count) has one partition.
   */
  private async refuseOtherPartitionCount(client: RedisClient): Promise<void> {
    const { partitionCount, unpartitionedStream } = this.layout;
    const { keyPrefix, partitions } = this.settings;
    let recorded = await client.get(partitionCount);
    if (recorded === null) {
      const unpartitioned = (await client.exists(unpartitionedStream)) > 0;
      await client.set(partitionCount, unpartitioned ? 1 : partitions, 'NX');
      recorded = await client.get(partitionCount);
    }
    if (Number(recorded) === partitions) return;
    throw new EventBrokerError(
      `RedisTransport: key prefix ${keyPrefix} holds events written with partitions ${printable(String(recorded))}, and this transport ` +
        `has partitions ${partitions}. The partition of an event depends on the count, so it cannot change under existing data: set ` +
        `partitions to ${printable(String(recorded))}, or use a new keyPrefix for the new count (and keep consumers on the old one ` +
        `until its groups have consumed what it holds). The count is recorded in ${partitionCount}.`,
    );
  }

  private createClient(): RedisClient {
    const { url, host, port, username, password, db, tls, cluster } = this.options;
    const common = { lazyConnect: true, tls: tls === true ? {} : tls || undefined };
    if (cluster) {
      const redisOptions = { username, password, tls: common.tls, ...cluster.options?.redisOptions };
      return new Cluster(cluster.nodes, { ...cluster.options, lazyConnect: true, redisOptions });
    }
    return url ? new Redis(url, common) : new Redis({ host: host ?? '127.0.0.1', port: port ?? 6379, username, password, db, ...common });
  }

  /** Where the transport connects, for errors: before a connection, the nodes it was given. */
  private address(client: RedisClient): string {
    const nodes = this.options.cluster?.nodes;
    if (!nodes) return describeClient(client);
    return `the Redis Cluster of ${nodes.map(({ host, port }) => `${host ?? '127.0.0.1'}:${port ?? 6379}`).join(', ')}`;
  }

  /** Logs a lost connection once and its return once, instead of every reconnect attempt. */
  private watch(client: RedisClient): void {
    let lost = false;
    client.on('error', (error: Error) => {
      if (lost || this.state.closed) return;
      lost = true;
      this.logger.warn(`Redis connection to ${this.address(client)} lost, reconnecting: ${error.message}`);
    });
    client.on('ready', () => {
      if (!lost) return;
      lost = false;
      this.logger.log(`Redis connection to ${this.address(client)} is back`);
    });
  }

  private consumerContext(client: RedisClient): RedisConsumerContext {
    const { ackTimeoutMs, blockMs, maxDeadLetters, retentionMs } = this.settings;
    return {
      client,
      partitions: this.partitions,
      members: (group) => this.layout.members(group),
      ackTimeoutMs,
      blockMs,
      maxDeadLetters,
      retentionMs,
      logger: this.logger,
      codec: this.codec,
    };
  }

  private deadLetter(keys: RedisKeys, group: string, entryId: string, fields: Record<string, string>): DeadLetter {
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
      id: formatDeadLetterId(`${keys.partition}/${entryId}`, group),
      event,
      group,
      error: fields.error ?? '',
      attempts: Number(fields.attempts ?? 1),
      deadLetteredAt: new Date(Number(fields.at)),
    };
  }

  /** Trims every partition's stream, one after the other. */
  private async trim(): Promise<void> {
    const client = this.state.connected();
    for (const keys of this.partitions) await this.trimPartition(client, keys);
  }

  /**
   * Drops the entries older than `retentionMs` and the oldest beyond the partition's share of `maxLen`, but
   * none that a group has not read or acked yet (whole macro nodes, `~`, so that no entry is
   * fetched: a backlog may hold millions), then what concerned only the entries dropped.
   */
  private async trimPartition(client: RedisClient, keys: RedisKeys): Promise<void> {
    const { stream, outcomes, replays, overrides, groups } = keys;
    const length = await client.xlen(stream);
    if (length === 0) return;
    const unconsumed = await this.oldestUnconsumed(client, stream);
    const expired = `${Date.now() - this.settings.retentionMs}-0`;
    let trimmed = await client.xtrim(stream, 'MINID', '~', unconsumed && compareIds(unconsumed, expired) < 0 ? unconsumed : expired);
    const maxLen = Math.ceil(this.settings.maxLen / this.partitions.length);
    const excess = length - trimmed - maxLen;
    if (excess > 0) {
      trimmed += unconsumed
        ? await client.xtrim(stream, 'MINID', '~', unconsumed, 'LIMIT', excess)
        : await client.xtrim(stream, 'MAXLEN', '~', maxLen);
    }
    if (trimmed === 0) return;
    const progress = (await client.hkeys(groups)).flatMap((group) => [keys.delivered(group), keys.acked(group)]);
    await FORGET_TRIMMED.run(client, [stream, outcomes, replays, overrides, ...progress], []);
  }

  /** The oldest entry of `stream` some group has not read or not acked yet; `undefined` without groups. */
  private async oldestUnconsumed(client: RedisClient, stream: string): Promise<string | undefined> {
    const groups = (await client.xinfo('GROUPS', stream)) as unknown[][];
    let oldest: string | undefined;
    for (const info of groups) {
      const record = entryFields(info.map(String));
      const undelivered = nextId(record['last-delivered-id']);
      if (oldest === undefined || compareIds(undelivered, oldest) < 0) oldest = undelivered;
      if (Number(record.pending) > 0) {
        const [pending] = (await client.xpending(stream, record.name, '-', '+', 1)) as [string, ...unknown[]][];
        if (pending && compareIds(pending[0], oldest) < 0) oldest = pending[0];
      }
    }
    return oldest;
  }
}
