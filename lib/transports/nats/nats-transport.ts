import {
  AckPolicy,
  connect,
  credsAuthenticator,
  DeliverPolicy,
  headers as createHeaders,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type NatsConnection,
  type StoredMsg,
  type Subscription as NatsSubscription,
} from 'nats';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { consoleBrokerLogger, type BrokerLogger } from '../../core/broker-logger.interface.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { assertPattern, matchAnyPattern, matchPattern } from '../../core/match-pattern.js';
import { cloudEventCodec } from '../cloud-event.codec.js';
import type { EventCodec } from '../event-codec.interface.js';
import { assertEventFilter, matchesFilter, newestWindow } from '../event-filter.js';
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
import { NatsGroupConsumer, publishDeadLetter, recordOutcome, type NatsConsumerContext } from './nats-group-consumer.js';
import { NatsHistory, recordEvent, type HistoryRecord } from './nats-history.js';
import {
  encodeName,
  HEADER_ATTEMPTS,
  HEADER_DEAD_AT,
  HEADER_ERROR,
  HEADER_GROUP,
  HEADER_ONLY,
  HEADER_SKIP,
  HEADER_TRACEPARENT,
  HEADER_TRACESTATE,
} from './nats-names.js';
import { NatsSubjects } from './nats-subjects.js';
import type { NatsTransportOptions } from './nats-transport-options.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { OptionNames } from '../../core/known-options.js';
import { resolveOptions } from '../../core/resolve-options.js';
import { MAX_QUOTED_CHARS, printable, quote } from '../../core/quote-input.js';

const DEFAULTS = {
  stream: 'EVENTS',
  subjectPrefix: 'events',
  ackWaitMs: 30_000,
  fetchExpiresMs: 5000,
  replicas: 1,
  maxAgeMs: 7 * 24 * 60 * 60 * 1000,
  maxDeadLetters: 10_000,
  duplicateWindowMs: 2 * 60 * 1000,
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
};

type Settings = typeof DEFAULTS;

/** What `connect` made: the connection, its JetStream clients and the key-value buckets. */
interface NatsConnected {
  connection: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  history: NatsHistory;
  groupsKv: KV;
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && /not found/i.test(error.message);
}

/**
 * NATS JetStream: one stream holds every event under `<prefix>.<source>.<type>`, one durable pull
 * consumer per subscription group reads it with explicit acks; dead letters go to a stream of
 * their own, history and status to a key-value bucket.
 */
export class NatsTransport implements EventTransport {
  readonly type = 'nats';
  readonly durable = true;
  readonly transactional = false;
  private readonly settings: Settings;
  private readonly codec: EventCodec;
  private readonly subjects: NatsSubjects;
  /** Every group of the stream and its patterns, kept current by a watch of the groups bucket. */
  private readonly knownGroups = new Map<string, readonly string[]>();
  private logger: BrokerLogger = consoleBrokerLogger;
  private readonly consumers = new RunningConsumers();
  private readonly tails = new Set<NatsSubscription>();
  private readonly state = new TransportState<NatsConnected>('NatsTransport');

  constructor(private readonly options: NatsTransportOptions = {}) {
    this.settings = resolveOptions('NatsTransport', DEFAULTS, options, OPTION_NAMES);
    this.codec = options.codec ?? cloudEventCodec;
    this.subjects = new NatsSubjects(this.settings.subjectPrefix, options.subjectLayout ?? 'prefix.source.type');
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

  private get deadLetterStream(): string {
    return `${this.settings.stream}_DLQ`;
  }

  private get deadLetterPrefix(): string {
    return `${this.settings.subjectPrefix}-dlq`;
  }

  async connect(context: TransportContext = DEFAULT_TRANSPORT_CONTEXT): Promise<void> {
    this.state.assertOpen();
    this.logger = context.logger;
    if (this.state.made) return;
    const connection = this.options.connection ?? (await this.open());
    let jsm: JetStreamManager;
    try {
      jsm = await connection.jetstreamManager();
    } catch (error) {
      if (!this.options.connection) await connection.close();
      throw new EventBrokerError(
        `NATS at ${connection.getServer()} has no JetStream (start nats-server with -js): ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
    await this.ensureStream(jsm, this.settings.stream, [this.subjects.all], {});
    await this.ensureStream(jsm, this.deadLetterStream, [`${this.deadLetterPrefix}.>`], { max_msgs: this.settings.maxDeadLetters });
    const js = connection.jetstream();
    const ttl = this.settings.maxAgeMs;
    const history = new NatsHistory(
      await js.views.kv(`${this.settings.stream}_HISTORY`, { history: 1, ttl, replicas: this.settings.replicas }),
    );
    const groupsKv = await js.views.kv(`${this.settings.stream}_GROUPS`, { history: 1, replicas: this.settings.replicas });
    await this.followGroups(groupsKv);
    this.state.connectedWith({ connection, js, jsm, history, groupsKv });
  }

  async publish(event: BrokerEvent, options: PublishOptions = {}): Promise<Delivery[]> {
    const { js, history } = this.state.connected();
    const claimGroups = options.claimGroups ?? [];
    const body = this.codec.encode(event);
    const groups: HistoryRecord['groups'] = {};
    for (const group of claimGroups) groups[group] = 'pending';
    for (const [group, patterns] of this.knownGroups) if (matchAnyPattern(patterns, event.type)) groups[group] = 'pending';
    const record: HistoryRecord = { event: body, status: 'pending', retryCount: 0, groups };
    if (Object.keys(groups).length === 0) Object.assign(record, { status: 'completed', completedAt: Date.now() });
    await history.create(event.id, record);
    const headers = createHeaders();
    if (claimGroups.length > 0) headers.set(HEADER_SKIP, claimGroups.join(','));
    if (event.metadata.traceparent !== undefined) headers.set(HEADER_TRACEPARENT, String(event.metadata.traceparent));
    if (event.metadata.tracestate !== undefined) headers.set(HEADER_TRACESTATE, String(event.metadata.tracestate));
    await js.publish(this.subjects.of(event), body, { msgID: event.id, headers });
    const context = this.consumerContext();
    // The group's consumers skip the message (its `Eb-Skip` header).
    return claimGroups.map((group) =>
      inlineDelivery(event, group, {
        ack: () => recordOutcome(history, event.id, group, { outcome: 'done' }),
        deadLetter: async (error, attempts) => {
          await publishDeadLetter(context, group, body, error, attempts);
          await recordOutcome(history, event.id, group, { outcome: 'failed', error, retryCount: attempts - 1 });
        },
      }),
    );
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    const { js, jsm, groupsKv } = this.state.connected();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    const durable = encodeName(spec.group);
    const config = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(this.settings.ackWaitMs),
      // Unlimited unless asked: the broker dead-letters after its last retry; reaching MaxDeliver
      // would leave the message in the stream with only an advisory.
      max_deliver: this.options.maxDeliver ?? -1,
      filter_subject: this.subjects.filter(spec.patterns),
      deliver_policy: spec.fromBeginning ? DeliverPolicy.All : DeliverPolicy.New,
    };
    try {
      const existing = await jsm.consumers.info(this.settings.stream, durable);
      if (existing.config.filter_subject !== config.filter_subject) {
        await jsm.consumers.update(this.settings.stream, durable, { filter_subject: config.filter_subject });
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await jsm.consumers.add(this.settings.stream, config);
    }
    await groupsKv.put(durable, JSON.stringify({ group: spec.group, patterns: spec.patterns }));
    this.knownGroups.set(spec.group, spec.patterns);
    const jsConsumer = await js.consumers.get(this.settings.stream, durable);
    return this.consumers.start(new NatsGroupConsumer(this.consumerContext(), jsConsumer, spec, onDelivery, flow));
  }

  async get(id: string): Promise<BrokerEvent | null> {
    const record = await this.state.connected().history.get(id);
    return record ? recordEvent(this.codec, record) : null;
  }

  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    const events = (await this.state.connected().history.all())
      .map((record) => recordEvent(this.codec, record))
      .filter((event) => matchesFilter(event, filter));
    events.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    return newestWindow(events, filter);
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    const found = await this.state.connected().history.update(id, (record) => {
      record.status = status;
      if (details.error !== undefined) record.error = details.error;
      if (details.processedAt) record.processedAt = details.processedAt.getTime();
      if (details.completedAt) record.completedAt = details.completedAt.getTime();
      return true;
    });
    if (!found) throw unknownEvent(id);
  }

  async delete(id: string): Promise<boolean> {
    return this.state.connected().history.delete(id);
  }

  stream(pattern: string): AsyncIterable<BrokerEvent> {
    assertPattern(pattern);
    const { connection } = this.state.connected();
    // A core subscription sees every message JetStream stores on the subject, from now on.
    const subscription = connection.subscribe(this.subjects.filter([pattern]));
    this.tails.add(subscription);
    const tail = new LiveTail<BrokerEvent>(() => {
      this.tails.delete(subscription);
      subscription.unsubscribe();
    });
    void (async () => {
      for await (const message of subscription) {
        if (message.headers?.get(HEADER_ONLY)) continue;
        try {
          const event = this.codec.decode(message.string());
          if (matchPattern(pattern, event.type)) tail.push(event);
        } catch {
          // Not an event: a live tail shows events only.
        }
      }
      tail.end();
    })();
    return tail;
  }

  async deadLetters(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const letters = (await this.storedDeadLetters())
      .map((stored) => this.deadLetter(stored))
      .filter((letter) => filter.group === undefined || letter.group === filter.group);
    return newestWindow(letters, filter);
  }

  async replay(deadLetterId: string): Promise<void> {
    const { js, jsm, history } = this.state.connected();
    const { key, group } = parseDeadLetterId(deadLetterId);
    const seq = Number(key);
    if (!Number.isInteger(seq)) throw unknownDeadLetter(deadLetterId);
    let stored: StoredMsg;
    try {
      stored = await jsm.streams.getMessage(this.deadLetterStream, { seq });
    } catch {
      throw unknownDeadLetter(deadLetterId);
    }
    if (!this.knownGroups.has(group))
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
    await history.update(event.id, (record) => {
      record.groups[group] = 'pending';
      if (!Object.values(record.groups).includes('failed')) {
        record.status = 'pending';
        delete record.error;
      }
      return true;
    });
    const headers = createHeaders();
    headers.set(HEADER_ONLY, group);
    await js.publish(this.subjects.of(event), stored.data, {
      msgID: `${event.id}:replay:${seq}`,
      headers,
    });
    await jsm.streams.deleteMessage(this.deadLetterStream, seq);
  }

  async stats(): Promise<TransportStats> {
    const { jsm, history } = this.state.connected();
    const [events, dead] = await Promise.all([
      history.all().then((records) => records.length),
      jsm.streams.info(this.deadLetterStream, { subjects_filter: '>' }),
    ]);
    const deadBySubject = dead.state.subjects ?? {};
    const groups: Record<string, GroupStats> = {};
    for (const group of this.knownGroups.keys()) {
      try {
        const info = await jsm.consumers.info(this.settings.stream, encodeName(group));
        groups[group] = {
          pending: info.num_pending,
          inFlight: info.num_ack_pending,
          deadLetters: deadBySubject[`${this.deadLetterPrefix}.${encodeName(group)}`] ?? 0,
        };
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return { type: this.type, events, deadLetters: dead.state.messages, groups };
  }

  async close(): Promise<void> {
    if (!this.state.close()) return;
    await this.consumers.closeAll();
    for (const tail of this.tails) tail.unsubscribe();
    if (!this.options.connection) await this.state.made?.connection.drain();
  }

  private async open(): Promise<NatsConnection> {
    const { servers = 'nats://127.0.0.1:4222', user, pass, token, creds, tls } = this.options;
    try {
      return await connect({
        servers,
        user,
        pass,
        token,
        authenticator: creds ? credsAuthenticator(new TextEncoder().encode(creds)) : undefined,
        tls: tls === true ? {} : tls || undefined,
        name: 'nestjs-event-broker',
        maxReconnectAttempts: -1,
      });
    } catch (error) {
      throw new EventBrokerError(`Cannot reach NATS at ${[servers].flat().join(', ')}: ${errorMessage(error)}`, { cause: error });
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

  /** Loads the groups bucket and keeps `knownGroups` current while the transport runs. */
  private async followGroups(kv: KV): Promise<void> {
    const load = (value: { group: string; patterns: string[] }): void => {
      this.knownGroups.set(value.group, value.patterns);
    };
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key);
      if (entry?.operation === 'PUT') load(entry.json());
    }
    const watcher = await kv.watch();
    void (async () => {
      for await (const entry of watcher) if (entry.operation === 'PUT') load(entry.json());
    })().catch((error: unknown) => this.logger.warn(`Watch of the NATS groups bucket ended: ${errorMessage(error)}`));
  }

  private consumerContext(): NatsConsumerContext {
    const { js, history } = this.state.connected();
    const { ackWaitMs, fetchExpiresMs } = this.settings;
    return { js, history, deadLetterPrefix: this.deadLetterPrefix, ackWaitMs, fetchExpiresMs, logger: this.logger, codec: this.codec };
  }

  private async storedDeadLetters(): Promise<StoredMsg[]> {
    const { jsm } = this.state.connected();
    const info = await jsm.streams.info(this.deadLetterStream);
    const messages: StoredMsg[] = [];
    if (info.state.messages === 0) return messages;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      try {
        messages.push(await jsm.streams.getMessage(this.deadLetterStream, { seq }));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return messages;
  }

  private deadLetter(stored: StoredMsg): DeadLetter {
    const group = stored.header.get(HEADER_GROUP);
    const error = stored.header.get(HEADER_ERROR);
    const attempts = Number(stored.header.get(HEADER_ATTEMPTS) || 1);
    const deadLetteredAt = new Date(Number(stored.header.get(HEADER_DEAD_AT)) || stored.time.getTime());
    let event: BrokerEvent;
    try {
      event = this.codec.decode(stored.string());
      event.status = 'failed';
      event.error = error;
      event.retryCount = attempts - 1;
    } catch {
      event = unreadableMessageEvent(`${this.deadLetterStream}:${stored.seq}`, stored.string(), error, deadLetteredAt);
    }
    return { id: formatDeadLetterId(String(stored.seq), group), event, group, error, attempts, deadLetteredAt };
  }
}
