import {
  BrokerStateError,
  cloudEventCodec,
  matchPattern,
  type BrokerEvent,
  type BrokerLogger,
  type Consumer,
  type ConsumerSpec,
  type DeadLetter,
  type DeadLetterFilter,
  type Delivery,
  type EventFilter,
  type EventStatus,
  type EventTransport,
  type FlowControl,
  type PublishOptions,
  type StatusDetails,
  type TransportContext,
  type TransportStats,
} from 'nestjs-event-broker';
import {
  assertEventFilter,
  assertPattern,
  DEFAULT_TRANSPORT_CONTEXT,
  inlineDelivery,
  LiveTail,
  matchesFilter,
  newestWindow,
  parseDeadLetterId,
  RunningConsumers,
  unknownDeadLetter,
  unknownEvent,
} from 'nestjs-event-broker/transport-kit';
import type { LogEngine } from './log-engine.js';
import { LogGroupConsumer } from './log-group-consumer.js';

/** A transport over a `LogEngine`: one object per process, the engine is the store they share. */
export class LogTransport implements EventTransport {
  readonly type = 'log';
  readonly durable = true;
  readonly transactional = false;
  private readonly consumers = new RunningConsumers();
  private readonly tails = new Set<LiveTail<BrokerEvent>>();
  private logger: BrokerLogger = DEFAULT_TRANSPORT_CONTEXT.logger;
  private closed = false;

  /** `leaseMs`: how long a delivery stays its consumer's once that consumer stops renewing it (a crash). */
  constructor(
    private readonly engine: LogEngine,
    private readonly leaseMs = 30_000,
  ) {}

  async connect(context: TransportContext = DEFAULT_TRANSPORT_CONTEXT): Promise<void> {
    this.assertOpen();
    this.logger = context.logger;
  }

  async publish(event: BrokerEvent, { claimGroups = [] }: PublishOptions = {}): Promise<Delivery[]> {
    this.assertOpen();
    if (this.engine.history.has(event.id)) return [];
    const seq = this.engine.publish(event, cloudEventCodec.encode(event), claimGroups);
    return claimGroups.map((group) =>
      inlineDelivery(event, group, {
        ack: async () => this.engine.acked(group, event.id),
        deadLetter: async (error, attempts) => this.engine.deadLetter(group, seq, event, error, attempts),
      }),
    );
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    this.assertOpen();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    this.engine.join(spec.group, spec.patterns, spec.fromBeginning ?? false);
    return this.consumers.start(new LogGroupConsumer(this.engine, spec, onDelivery, flow, this.logger, this.leaseMs));
  }

  async get(id: string): Promise<BrokerEvent | null> {
    this.assertOpen();
    return structuredClone(this.engine.history.get(id)?.event ?? null);
  }

  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    this.assertOpen();
    assertEventFilter(filter);
    const matches = [...this.engine.history.values()].map(({ event }) => event).filter((event) => matchesFilter(event, filter));
    return structuredClone(newestWindow(matches, filter));
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    this.assertOpen();
    if (!this.engine.history.has(id)) throw unknownEvent(id);
    this.engine.update(id, { ...details, status });
  }

  async delete(id: string): Promise<boolean> {
    this.assertOpen();
    return this.engine.history.delete(id);
  }

  stream(pattern: string): AsyncIterable<BrokerEvent> {
    this.assertOpen();
    assertPattern(pattern);
    const follow = (event: BrokerEvent): void => {
      if (matchPattern(pattern, event.type)) tail.push(event);
    };
    const tail = new LiveTail<BrokerEvent>(() => {
      this.engine.listeners.delete(follow);
      this.tails.delete(tail);
    });
    this.engine.listeners.add(follow);
    this.tails.add(tail);
    return tail;
  }

  async deadLetters({ group, limit, offset }: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    this.assertOpen();
    const letters = this.engine.deadLetters.filter((letter) => group === undefined || letter.group === group);
    return structuredClone(newestWindow(letters, { limit, offset }));
  }

  /** The pair goes to the end of the log again, for its group only, as a first attempt. */
  async replay(deadLetterId: string): Promise<void> {
    this.assertOpen();
    const { key, group } = parseDeadLetterId(deadLetterId);
    const index = this.engine.deadLetters.findIndex((letter) => letter.id === deadLetterId);
    if (index < 0) throw unknownDeadLetter(deadLetterId);
    const [{ event }] = this.engine.deadLetters.splice(index, 1);
    this.engine.update(event.id, { status: 'pending', error: undefined });
    this.engine.append({ body: this.engine.log[Number(key)].body, only: group });
  }

  /** A group's `pending` counts every entry it has not read yet: the log cannot tell which are the group's before it reads them. */
  async stats(): Promise<TransportStats> {
    this.assertOpen();
    const now = Date.now();
    const { log, deadLetters } = this.engine;
    const groups: TransportStats['groups'] = {};
    for (const [name, { cursor, pending }] of this.engine.groups) {
      const inFlight = [...pending.values()].filter((entry) => entry.leasedTo !== undefined && entry.dueAt > now).length;
      const letters = deadLetters.filter((letter) => letter.group === name).length;
      groups[name] = { pending: pending.size - inFlight + log.length - cursor, inFlight, deadLetters: letters };
    }
    return { type: this.type, events: this.engine.history.size, deadLetters: deadLetters.length, groups };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.consumers.closeAll();
    for (const tail of this.tails) tail.end();
  }

  private assertOpen(): void {
    if (this.closed) throw new BrokerStateError('The log transport is closed');
  }
}
