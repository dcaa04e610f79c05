import {
  AckPolicy,
  connect,
  ErrorCode,
  NatsError,
  credsAuthenticator,
  DeliverPolicy,
  headers as createHeaders,
  nanos,
  RetentionPolicy,
  StorageType,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type MsgHdrs,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from 'nats';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { consoleBrokerLogger, type BrokerLogger } from '../../core/broker-logger.interface.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { assertPattern, matchPattern } from '../../core/match-pattern.js';
import { cloudEventCodec } from '../cloud-event.codec.js';
import type { EventCodec } from '../event-codec.interface.js';
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
import { LiveTail } from '../live-tail.js';
import { RunningConsumers } from '../running-consumers.js';
import { TransportState } from '../transport-state.js';
import { NatsDeadLetters } from './nats-dead-letters.js';
import { NatsGroupConsumer, type NatsConsumerContext } from './nats-group-consumer.js';
import { NatsOrderedGroupConsumer } from './nats-ordered-group-consumer.js';
import { NatsGroupRegistry } from './nats-group-registry.js';
import { NatsHistory } from './nats-history.js';
import { moveLegacyDeadLetters, refuseLegacyHistory } from './nats-legacy-layout.js';
import { encodeName, HEADER_ONLY, HEADER_REPLAY_OF, HEADER_SKIP, HEADER_TRACEPARENT, HEADER_TRACESTATE } from './nats-names.js';
import { NatsProgress } from './nats-progress.js';
import { NatsSubjects, type NatsPosition } from './nats-subjects.js';
import { refuseOtherPartitionCount } from './nats-partition-count.js';
import { partitionKeyOf, partitionOf } from '../../core/partition-key.js';
import type { NatsTransportOptions } from './nats-transport-options.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { OptionNames } from '../../core/known-options.js';
import { resolveOptions } from '../../core/resolve-options.js';
import { MAX_QUOTED_CHARS, printable, quote } from '../../core/quote-input.js';
import { isNotFound } from './nats-errors.js';
import { LEADER_WAIT_MS, waitingForLeader, type LeaderWait } from './nats-leader-election.js';
import { natsServerUrls } from './nats-servers.js';

const DEFAULTS = {
  stream: 'EVENTS',
  subjectPrefix: 'events',
  ackWaitMs: 30_000,
  fetchExpiresMs: 5000,
  replicas: 1,
  maxAgeMs: 7 * 24 * 60 * 60 * 1000,
  maxDeadLetters: 10_000,
  duplicateWindowMs: 2 * 60 * 1000,
  partitions: 1,
};

/** Every option of `NatsTransportOptions`: anything else is refused. */
const OPTION_NAMES: OptionNames<NatsTransportOptions> = {
  servers: true,
  user: true,
  pass: true,
  token: true,
  creds: true,
  tls: true,
  connection: true,
  stream: true,
  subjectPrefix: true,
  subjectLayout: true,
  codec: true,
  ackWaitMs: true,
  maxDeliver: true,
  fetchExpiresMs: true,
  replicas: true,
  maxAgeMs: true,
  maxBytes: true,
  maxDeadLetters: true,
  duplicateWindowMs: true,
  partitions: true,
};

type Settings = typeof DEFAULTS;

/** What `connect` made: the connection, its JetStream clients and the parts of the transport that use them. */
interface NatsConnected {
  connection: NatsConnection;
  js: JetStreamClient;
  /** The members and partition leases of the stream's ordered groups. */
  leases: KV;
  jsm: JetStreamManager;
  groups: NatsGroupRegistry;
  progress: NatsProgress;
  deadLetters: NatsDeadLetters;
  history: NatsHistory;
}

/**
 * NATS JetStream: one stream holds every event under `<prefix>.<source>.<type>`, or with
 * `partitions` n > 1 one stream per partition, `<stream>_P<p>` under `<prefix>.p<p>.<source>.<type>`
 * (each stream is a Raft group of its own, led by one server of a cluster: the partitions spread
 * the load over the servers). One durable pull consumer per subscription group reads each stream
 * with explicit acks, dead letters go to a stream of their own. The streams are the history:
 * statuses are derived from the consumers' positions, the dead letters and a progress stream that
 * gets one record per batch of deliveries and acks. The partition count is recorded in the groups
 * bucket, and cannot change under existing data.
 */
export class NatsTransport implements EventTransport {
  readonly type = 'nats';
  readonly durable = true;
  readonly transactional = false;
  readonly orderedGroups = true;
  private readonly settings: Settings;
  private readonly servers: string[];
  /**
   * A publish of an event or a replayed copy: its message id makes a copy sent again within the
   * duplicate window count once, so one that timed out (lost with the leader's server, or stored
   * without an answer) is sent again too, when the window outlasts the wait for a leader.
   */
  private readonly eventPublishWait: LeaderWait;
  /** A dead letter has no message id: it is sent again only when it found no leader (it was not stored). */
  private readonly deadLetterWait: LeaderWait;
  /** Creating, reading and binding to a group's consumer: the same request changes nothing twice. */
  private readonly setupWait: LeaderWait;
  private readonly codec: EventCodec;
  private readonly subjects: NatsSubjects;
  /** The events stream of each partition. */
  private readonly streams: readonly string[];
  private logger: BrokerLogger = consoleBrokerLogger;
  private readonly consumers = new RunningConsumers();
  /** The ordered ones among them: closed with the transport and not released, they stop renewing their leases. */
  private readonly orderedConsumers = new Set<NatsOrderedGroupConsumer>();
  private readonly tails = new Set<NatsSubscription>();
  private readonly state = new TransportState<NatsConnected>('NatsTransport');

  constructor(private readonly options: NatsTransportOptions = {}) {
    this.settings = resolveOptions('NatsTransport', DEFAULTS, options, OPTION_NAMES);
    this.codec = options.codec ?? cloudEventCodec;
    this.servers = natsServerUrls(options.servers);
    const replicated = this.settings.replicas > 1;
    this.eventPublishWait = { replicated, repeatable: this.settings.duplicateWindowMs >= LEADER_WAIT_MS };
    this.deadLetterWait = { replicated, repeatable: false };
    this.setupWait = { replicated, repeatable: true };
    const { partitions, stream } = this.settings;
    this.subjects = new NatsSubjects(this.settings.subjectPrefix, options.subjectLayout ?? 'prefix.source.type', partitions);
    this.streams = partitions === 1 ? [stream] : Array.from({ length: partitions }, (_, partition) => `${stream}_P${partition}`);
    if (this.settings.fetchExpiresMs < 1000) {
      throw new EventBrokerError(
        `NatsTransport option fetchExpiresMs must be at least 1000 (a pull request's minimum), got ${this.settings.fetchExpiresMs}`,
      );
    }
    if (!/^[A-Za-z0-9_-]+$/.test(this.settings.stream))
      throw new EventBrokerError(`NatsTransport option stream must use [A-Za-z0-9_-], got ${quote(this.settings.stream)}`);
    if (!/^[A-Za-z0-9_-]+$/.test(this.settings.subjectPrefix)) {
      throw new EventBrokerError(
        `NatsTransport option subjectPrefix must be one token of [A-Za-z0-9_-], got ${quote(this.settings.subjectPrefix)}`,
      );
    }
  }

  async connect(context: TransportContext = DEFAULT_TRANSPORT_CONTEXT): Promise<void> {
    this.state.assertOpen();
    this.logger = context.logger;
    if (this.state.made) return;
    const connection = this.options.connection ?? (await this.open());
    try {
      this.state.connectedWith(await this.prepare(connection));
    } catch (error) {
      if (!this.options.connection) await connection.close();
      throw error;
    }
  }

  async publish(event: BrokerEvent, options: PublishOptions = {}): Promise<Delivery[]> {
    const { js, progress, deadLetters } = this.state.connected();
    const claimGroups = options.claimGroups ?? [];
    const body = this.codec.encode(event);
    const { traceparent, tracestate } = event.metadata;
    let headers: MsgHdrs | undefined;
    if (claimGroups.length > 0 || traceparent !== undefined || tracestate !== undefined) {
      headers = createHeaders();
      if (claimGroups.length > 0) headers.set(HEADER_SKIP, claimGroups.join(','));
      if (traceparent !== undefined) headers.set(HEADER_TRACEPARENT, String(traceparent));
      if (tracestate !== undefined) headers.set(HEADER_TRACESTATE, String(tracestate));
    }
    const partition = partitionOf(partitionKeyOf(event), this.streams.length);
    const { seq } = await waitingForLeader(this.eventPublishWait, () =>
      js.publish(this.subjects.of(event, partition), body, { msgID: event.id, headers }),
    );
    const position: NatsPosition = { partition, seq };
    // The group's consumers skip the message (its `Eb-Skip` header).
    return claimGroups.map((group) =>
      inlineDelivery(event, group, {
        ack: () => progress.ack(group, position),
        deadLetter: (error, attempts) => deadLetters.add(group, position, body, error, attempts),
      }),
    );
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    const { groups, leases } = this.state.connected();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    const durable = encodeName(spec.group);
    // The same durable name on every partition's stream; a group's consumers read them all.
    const startSeqs = await Promise.all(this.streams.map((_, partition) => this.ensureConsumer(spec, durable, partition)));
    await groups.register(spec.group, spec.patterns, startSeqs);
    await this.assertSameOrdering(spec, durable);
    if (spec.ordered) {
      const ordered = new NatsOrderedGroupConsumer(
        { ...this.consumerContext(), leases, durable, setupWait: this.setupWait, startSeqs: groups.get(spec.group)?.startSeqs ?? [] },
        spec,
        onDelivery,
        flow,
      );
      await ordered.join();
      this.orderedConsumers.add(ordered);
      return this.consumers.start(ordered);
    }
    const consumer = new NatsGroupConsumer(this.consumerContext(), spec, onDelivery, flow);
    await Promise.all(
      this.streams.map((_, partition) =>
        waitingForLeader(this.setupWait, () => consumer.subscribe(partition, durable, this.subjects.filter(spec.patterns, partition))),
      ),
    );
    return this.consumers.start(consumer);
  }

  /**
   * Creates the group's durable consumer on the stream of `partition`, or brings its filter up to
   * date; gives the first sequence routed to the group there when it created it (the one after
   * the newest message, or 1 with `fromBeginning`), 0 when the consumer was there. A group already
   * registered gets its missing consumer from the group's start, never from new events: it is
   * missing while an ordered group's new owner of the partition recreates it (which deletes this
   * one and adds its own), or it was deleted and its events since the start come again.
   */
  private async ensureConsumer(spec: ConsumerSpec, durable: string, partition: number): Promise<number> {
    const { jsm, groups } = this.state.connected();
    const stream = this.streams[partition];
    const registeredStart = groups.get(spec.group)?.startSeqs[partition] ?? 0;
    const start =
      registeredStart > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: registeredStart }
        : { deliver_policy: spec.fromBeginning ? DeliverPolicy.All : DeliverPolicy.New };
    const config = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(this.settings.ackWaitMs),
      // Unlimited unless asked: the broker dead-letters after its last retry; reaching MaxDeliver
      // would leave the message in the stream with only an advisory.
      max_deliver: this.options.maxDeliver ?? -1,
      filter_subject: this.subjects.filter(spec.patterns, partition),
      ...start,
    };
    // A consumer of a replicated stream is replicated too: one that lost its leader with a node
    // answers again once it elected another.
    return waitingForLeader(this.setupWait, async () => {
      let created: ConsumerInfo | undefined;
      try {
        const existing = await jsm.consumers.info(stream, durable);
        if (existing.config.filter_subject !== config.filter_subject) {
          await jsm.consumers.update(stream, durable, { filter_subject: config.filter_subject });
        }
      } catch (error) {
        if (!isNotFound(error)) throw error;
        // An ordered group's new owner of the partition may have added it again a moment ago (it recreates it).
        created = await jsm.consumers.add(stream, config).catch(async (addError: unknown) => {
          if (
            await jsm.consumers.info(stream, durable).then(
              () => true,
              () => false,
            )
          )
            return undefined;
          throw addError;
        });
      }
      return created ? created.delivered.stream_seq + 1 : 0;
    });
  }

  /**
   * Refuses a consumer that orders the group otherwise than its running consumers: the ordered
   * ones are the live members in the leases bucket (their record written within twice `ackWaitMs`,
   * by the server's time of the write against this process's clock: a member writes it every third
   * of `ackWaitMs`, and one on a busy machine may be late by more than a lease without having
   * stopped); without them, the unordered ones
   * are those with a pull waiting on one of the group's consumers, or with deliveries out on one
   * (`busyUnordered`).
   */
  private async assertSameOrdering(spec: ConsumerSpec, durable: string): Promise<void> {
    const { leases, jsm } = this.state.connected();
    const { group } = spec;
    let ordered = 0;
    for await (const key of await leases.keys(`${durable}.members.*`)) {
      const entry = await leases.get(key);
      if (entry?.operation === 'PUT' && Date.now() - entry.created.getTime() < 2 * this.settings.ackWaitMs) ordered++;
    }
    if (spec.ordered && ordered > 0) return;
    let holding: string | undefined;
    if (spec.ordered) {
      const infos = await Promise.all(this.streams.map((stream) => jsm.consumers.info(stream, durable)));
      const waiting = infos.reduce((sum, info) => sum + info.num_waiting, 0);
      const busy = await Promise.all(infos.map((info, partition) => this.busyUnordered(info, durable, partition)));
      const busyPartitions = busy.filter(Boolean).length;
      const reasons = [
        ...(waiting > 0 ? [`${waiting} of their pulls are waiting`] : []),
        ...(busyPartitions > 0 ? [`they have deliveries out on ${busyPartitions} of the partitions`] : []),
      ];
      if (reasons.length > 0) holding = reasons.join(', ');
    } else if (ordered > 0) holding = `${ordered} of them are live`;
    if (holding === undefined) return;
    const [consumed, asked] = spec.ordered ? ['unordered', 'ordered'] : ['ordered', 'unordered'];
    throw new EventBrokerError(
      `Group ${group} is consumed ${consumed} by other instances (${holding}); ` +
        `a consumer of the same group cannot consume it ${asked} (give every consumer of a group the same ordered option)`,
    );
  }

  /**
   * Whether an unordered instance holds deliveries of the partition's consumer: a busy one asks
   * for no pull. Messages are out, the consumer delivered or acked one within `ackWaitMs`, and no
   * ordered owner's lease of the partition was written within `ackWaitMs` before that (those of
   * an ordered instance that stopped or crashed stay out until the partition's next owner
   * recreates the consumer; those left by unordered instances gone for `ackWaitMs` do not count).
   */
  private async busyUnordered(info: ConsumerInfo, durable: string, partition: number): Promise<boolean> {
    if (info.num_ack_pending === 0) return false;
    const active = Math.max(...[info.delivered.last_active, info.ack_floor.last_active].map(serverTime).filter((at) => !Number.isNaN(at)));
    const { ackWaitMs } = this.settings;
    if (!(Date.now() - active < ackWaitMs)) return false;
    // The lease's key, as `NatsPartitionLeases` names it.
    const lease = await this.state.connected().leases.get(`${durable}.lease.${partition}`);
    return !(lease?.operation === 'PUT' && lease.created.getTime() + ackWaitMs >= active);
  }

  async get(id: string): Promise<BrokerEvent | null> {
    return this.state.connected().history.get(id);
  }

  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    return this.state.connected().history.list(filter);
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    await this.state.connected().history.updateStatus(id, status, details);
  }

  async delete(id: string): Promise<boolean> {
    return this.state.connected().history.delete(id);
  }

  stream(pattern: string): AsyncIterable<BrokerEvent> {
    assertPattern(pattern);
    const { connection } = this.state.connected();
    // A core subscription per partition sees every message JetStream stores on its subjects, from now on.
    const subscriptions = this.streams.map((_, partition) => connection.subscribe(this.subjects.filter([pattern], partition)));
    for (const subscription of subscriptions) this.tails.add(subscription);
    const tail = new LiveTail<BrokerEvent>(() => {
      for (const subscription of subscriptions) {
        this.tails.delete(subscription);
        subscription.unsubscribe();
      }
    });
    void Promise.all(
      subscriptions.map(async (subscription) => {
        for await (const message of subscription) {
          if (message.headers?.get(HEADER_ONLY)) continue;
          try {
            const event = this.codec.decode(message.string());
            if (matchPattern(pattern, event.type)) tail.push(event);
          } catch {
            // Not an event: a live tail shows events only.
          }
        }
      }),
    ).then(() => tail.end());
    return tail;
  }

  async deadLetters(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    return this.state.connected().deadLetters.list(filter);
  }

  async replay(deadLetterId: string): Promise<void> {
    const { js, groups, deadLetters } = this.state.connected();
    const { stored, group, event: position } = await deadLetters.take(deadLetterId);
    if (!groups.get(group))
      throw new EventBrokerError(`Cannot replay dead letter ${printable(deadLetterId, MAX_QUOTED_CHARS)}: no consumer group ${group}`);
    let event: BrokerEvent;
    try {
      event = this.codec.decode(stored.string());
    } catch (error) {
      throw new EventBrokerError(
        `Cannot replay dead letter ${printable(deadLetterId, MAX_QUOTED_CHARS)}: its message is unreadable (${printable(errorMessage(error))})`,
        {
          cause: error,
        },
      );
    }
    const headers = createHeaders();
    headers.set(HEADER_ONLY, group);
    if (position.seq > 0) headers.set(HEADER_REPLAY_OF, String(position.seq));
    // The copy is on the event's subject in its own partition's stream, so that the group's
    // consumer reads it and its sequence names the event; it is deleted once settled.
    await waitingForLeader(this.eventPublishWait, () =>
      js.publish(this.subjects.of(event, position.partition), stored.data, { msgID: `${event.id}:replay:${stored.seq}`, headers }),
    );
    await deadLetters.remove(stored.seq);
  }

  async stats(): Promise<TransportStats> {
    const { jsm, groups, deadLetters } = this.state.connected();
    const [events, dead] = await Promise.all([Promise.all(this.streams.map((stream) => jsm.streams.info(stream))), deadLetters.counts()]);
    const stats: Record<string, GroupStats> = {};
    await Promise.all(
      groups.all().map(async ({ group }) => {
        const infos = await Promise.all(
          this.streams.map((stream) =>
            jsm.consumers.info(stream, encodeName(group)).catch((error: unknown) => {
              if (!isNotFound(error)) throw error;
              return undefined;
            }),
          ),
        );
        const found = infos.filter((info) => info !== undefined);
        if (found.length === 0) return;
        stats[group] = {
          pending: found.reduce((sum, info) => sum + info.num_pending, 0),
          inFlight: found.reduce((sum, info) => sum + info.num_ack_pending, 0),
          deadLetters: dead.byGroup.get(group) ?? 0,
        };
      }),
    );
    const messages = events.reduce((sum, info) => sum + info.state.messages, 0);
    return { type: this.type, events: messages, deadLetters: dead.total, groups: stats };
  }

  async close(): Promise<void> {
    if (!this.state.close()) return;
    await this.consumers.closeAll();
    for (const consumer of this.orderedConsumers) consumer.abandon();
    for (const tail of this.tails) tail.unsubscribe();
    const made = this.state.made;
    made?.groups.close();
    made?.progress.flush();
    if (!this.options.connection) await made?.connection.drain();
  }

  /** Gets the JetStream manager and sets the transport up with it. */
  private async prepare(connection: NatsConnection): Promise<NatsConnected> {
    let jsm: JetStreamManager;
    try {
      jsm = await connection.jetstreamManager();
    } catch (error) {
      if (connection.info?.jetstream) throw unanswered(connection, 'its account', error);
      throw new EventBrokerError(
        `NATS at ${connection.getServer()} has no JetStream (start nats-server with -js): ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
    try {
      return await this.setUp(connection, jsm);
    } catch (error) {
      if (error instanceof NatsError && error.code === ErrorCode.Timeout)
        throw unanswered(connection, `the streams of ${this.settings.stream}`, error);
      throw error;
    }
  }

  /** Checks the layout, creates or updates the streams, and makes the parts of the transport. */
  private async setUp(connection: NatsConnection, jsm: JetStreamManager): Promise<NatsConnected> {
    const { stream, partitions } = this.settings;
    await refuseLegacyHistory(jsm, stream);
    const js = connection.jetstream();
    // Together: on a cluster each stream is a replicated group of its own whose creation waits for
    // its leader election, a few hundred milliseconds each.
    const [groupsKv, leases] = await Promise.all([
      js.views.kv(`${stream}_GROUPS`, { history: 1, replicas: this.settings.replicas }),
      js.views.kv(`${stream}_LEASES`, { history: 1, replicas: this.settings.replicas }),
      this.ensureStream(jsm, `${stream}_DLQ`, [this.subjects.deadLetters], { max_msgs: this.settings.maxDeadLetters }),
      this.ensureStream(jsm, `${stream}_PROGRESS`, [this.subjects.progress], {}),
    ]);
    // Before the events streams: those of another count must not be made beside the recorded ones.
    await refuseOtherPartitionCount(groupsKv, jsm, stream, partitions);
    await Promise.all(this.streams.map((name, partition) => this.ensureStream(jsm, name, [this.subjects.all(partition)], {})));
    const groups = await NatsGroupRegistry.open(groupsKv, partitions, this.logger);
    const progress = new NatsProgress(connection, this.subjects, this.logger);
    const deadLetters = new NatsDeadLetters(js, jsm, `${stream}_DLQ`, this.deadLetterWait, this.subjects, this.codec);
    const history = new NatsHistory({
      js,
      jsm,
      streams: this.streams,
      progressStream: `${stream}_PROGRESS`,
      subjects: this.subjects,
      codec: this.codec,
      groups,
      deadLetters,
    });
    // Dead letters whose subject has no event sequence are older than partitions: only a stream of one partition has them.
    if (partitions === 1) {
      await moveLegacyDeadLetters(
        js,
        jsm,
        deadLetters.stream,
        this.subjects,
        this.codec,
        async (id) => (await history.positionOf(id))?.seq,
      );
    }
    return { connection, js, jsm, leases, groups, progress, deadLetters, history };
  }

  private async open(): Promise<NatsConnection> {
    const { user, pass, token, creds, tls } = this.options;
    try {
      return await connect({
        servers: this.servers,
        user,
        pass,
        token,
        authenticator: creds ? credsAuthenticator(new TextEncoder().encode(creds)) : undefined,
        tls: tls === true ? {} : tls || undefined,
        name: 'nestjs-event-broker',
        maxReconnectAttempts: -1,
      });
    } catch (error) {
      throw new EventBrokerError(`Cannot reach NATS at ${this.servers.join(', ')}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** Creates the stream, or brings the settings of an existing one up to date. */
  private async ensureStream(jsm: JetStreamManager, name: string, subjects: string[], limits: { max_msgs?: number }): Promise<void> {
    const config = {
      name,
      subjects,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: this.settings.replicas,
      max_age: nanos(this.settings.maxAgeMs),
      max_bytes: this.options.maxBytes ?? -1,
      duplicate_window: nanos(this.settings.duplicateWindowMs),
      ...limits,
    };
    try {
      await jsm.streams.info(name);
      await jsm.streams.update(name, config);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await jsm.streams.add(config);
    }
  }

  private consumerContext(): NatsConsumerContext {
    const { js, jsm, progress, deadLetters } = this.state.connected();
    const { ackWaitMs, fetchExpiresMs } = this.settings;
    return { js, jsm, streams: this.streams, progress, deadLetters, ackWaitMs, fetchExpiresMs, logger: this.logger, codec: this.codec };
  }
}

/** A time the server gives in a consumer's info (an RFC 3339 string, though typed as nanos); NaN when absent. */
function serverTime(value: unknown): number {
  return typeof value === 'string' ? Date.parse(value) : Number.NaN;
}

/**
 * A server whose INFO says it runs JetStream, but whose JetStream did not answer about `what`: on
 * a cluster, one without a meta leader (electing one, or fewer than a majority of its servers up).
 */
function unanswered(connection: NatsConnection, what: string, error: unknown): EventBrokerError {
  return new EventBrokerError(
    `NATS at ${connection.getServer()} runs JetStream, but it did not answer about ${what} (on a cluster: no meta leader, an election or fewer than a majority of its servers up): ${errorMessage(error)}`,
    { cause: error },
  );
}
