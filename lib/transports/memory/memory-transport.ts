import { randomUUID } from 'node:crypto';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { Signal } from '../../core/async-primitives.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { FifoQueue } from '../../core/fifo-queue.js';
import { assertPattern, matchAnyPattern, matchPattern } from '../../core/match-pattern.js';
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
  TransportStats,
} from '../../core/event-transport.interface.js';
import { unknownDeadLetter } from '../dead-letter-id.js';
import { LiveTail } from '../live-tail.js';
import { unknownEvent } from '../unknown-event.js';
import { SettleOnce, type Settlement } from '../settle-once.js';
import { TransportState } from '../transport-state.js';
import type { MemoryTransportOptions } from './memory-transport-options.interface.js';
import { MAX_QUOTED_CHARS, printable } from '../../core/quote-input.js';
import type { OptionNames } from '../../core/known-options.js';
import { resolveOptions } from '../../core/resolve-options.js';
import { payloadJsonOf } from '../../core/payload-validation.js';

/** An event in the history, with how the groups it was routed to have fared. */
interface StoredEvent {
  /** The event without its payload (`null` here). */
  event: BrokerEvent;
  /** The payload as JSON, so that every reader gets its own copy, as from a durable transport. */
  payloadJson: string;
  /** Groups that have neither acked nor dead-lettered it. */
  unsettled: number;
  /** Groups that dead-lettered it and were not replayed. */
  failed: number;
}

interface PendingDelivery {
  stored: StoredEvent;
  attempt: number;
}

/** The release functions of the deliveries a consumer handed out and that are not settled yet. */
type Unsettled = Set<() => void>;

/** A consumer group: the deliveries waiting for it, shared by its competing consumers. */
interface MemoryGroup {
  name: string;
  patterns: readonly string[];
  ready: FifoQueue<PendingDelivery>;
  retryTimers: Set<NodeJS.Timeout>;
  inFlight: number;
  consumers: number;
  /** Notified whenever a delivery is queued, handed out or settled. */
  changed: Signal;
}

const DEFAULTS: Required<MemoryTransportOptions> = {
  maxEvents: 1000,
  maxAgeMs: 60 * 60 * 1000,
  cleanupIntervalMs: 60 * 1000,
  maxDeadLetters: 10_000,
  maxQueued: 1000,
};

/** Every option of `MemoryTransportOptions`: anything else is refused. */
const OPTION_NAMES: OptionNames<MemoryTransportOptions> = {
  maxEvents: true,
  maxAgeMs: true,
  cleanupIntervalMs: true,
  maxDeadLetters: true,
  maxQueued: true,
};

/** A copy of `event` with `payload` that shares no object with it. */
function copyEvent(event: BrokerEvent, payload: unknown): BrokerEvent {
  const copy: BrokerEvent = { ...event, payload, metadata: { ...event.metadata }, createdAt: new Date(event.createdAt.getTime()) };
  if (event.processedAt) copy.processedAt = new Date(event.processedAt.getTime());
  if (event.completedAt) copy.completedAt = new Date(event.completedAt.getTime());
  return copy;
}

/** The stored event as a reader gets it. */
function snapshot({ event, payloadJson }: StoredEvent): BrokerEvent {
  return copyEvent(event, JSON.parse(payloadJson));
}

function store(event: BrokerEvent): StoredEvent {
  return { event: copyEvent(event, null), payloadJson: payloadJsonOf(event), unsettled: 0, failed: 0 };
}

function samePatterns(left: readonly string[], right: readonly string[]): boolean {
  const wanted = new Set(right);
  return new Set(left).size === wanted.size && left.every((pattern) => wanted.has(pattern));
}

/** A dead letter with the event as it was when it was dead-lettered. */
interface StoredDeadLetter extends Omit<DeadLetter, 'event'> {
  stored: StoredEvent;
}

/**
 * The embedded default: events, groups and dead letters live in this process. Not durable, so
 * `EventBroker.stop` drains it before closing. Share one instance between brokers to have them
 * behave like instances of one service (competing inside a group).
 */
export class MemoryTransport implements EventTransport {
  readonly type = 'memory';
  readonly durable = false;
  readonly transactional = false;
  private readonly options: Required<MemoryTransportOptions>;
  private readonly events = new Map<string, StoredEvent>();
  private readonly groups = new Map<string, MemoryGroup>();
  private readonly deadLetterStore = new Map<string, StoredDeadLetter>();
  private readonly tails = new Set<{ pattern: string; tail: LiveTail<BrokerEvent> }>();
  private readonly consumerAborts = new Set<AbortController>();
  private cleanupTimer?: NodeJS.Timeout;
  /** Brokers sharing this transport: it closes when the last one does. */
  private connections = 0;
  private readonly state = new TransportState('MemoryTransport');

  constructor(options: MemoryTransportOptions = {}) {
    this.options = resolveOptions('MemoryTransport', DEFAULTS, options, OPTION_NAMES);
  }

  async connect(): Promise<void> {
    this.state.assertOpen();
    this.connections++;
    this.cleanupTimer ??= setInterval(() => this.removeExpired(), this.options.cleanupIntervalMs).unref();
  }

  async publish(event: BrokerEvent, options: PublishOptions = {}): Promise<Delivery[]> {
    this.state.assertOpen();
    const claimed = options.claimGroups ?? [];
    const targets: MemoryGroup[] = [];
    for (const group of this.groups.values()) {
      if (group.consumers > 0 && !claimed.includes(group.name) && matchAnyPattern(group.patterns, event.type)) targets.push(group);
    }
    for (const group of targets) {
      while (group.ready.length >= this.options.maxQueued && !this.state.closed) await group.changed.wait();
    }
    this.state.assertOpen();
    if (this.events.has(event.id)) return [];
    const stored = store(event);
    for (const group of targets) {
      group.ready.push({ stored, attempt: 1 });
      group.changed.notify();
    }
    stored.unsettled = targets.length + claimed.length;
    if (stored.unsettled === 0) this.setStatus(stored.event, 'completed', { completedAt: new Date() });
    this.remember(stored);
    for (const { pattern, tail } of this.tails) if (matchPattern(pattern, event.type)) tail.push(snapshot(stored));
    return claimed.map((name) => this.handOut(this.groups.get(name), name, { stored, attempt: 1 }));
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    this.state.assertOpen();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    const group = this.joinGroup(spec);
    const abort = new AbortController();
    this.consumerAborts.add(abort);
    const unsettled: Unsettled = new Set();
    const running = this.feed(group, onDelivery, flow, abort.signal, unsettled);
    return {
      drained: () => this.drained(group),
      close: async () => {
        if (abort.signal.aborted) return;
        abort.abort();
        this.consumerAborts.delete(abort);
        await running;
        group.consumers--;
      },
      release: async () => {
        for (const release of unsettled) release();
      },
    };
  }

  async get(id: string): Promise<BrokerEvent | null> {
    const stored = this.events.get(id);
    return stored ? snapshot(stored) : null;
  }

  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    const matches: StoredEvent[] = [];
    for (const stored of this.events.values()) if (matchesFilter(stored.event, filter)) matches.push(stored);
    return newestWindow(matches, filter).map(snapshot);
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    const stored = this.events.get(id);
    if (!stored) throw unknownEvent(id);
    this.setStatus(stored.event, status, details);
  }

  async delete(id: string): Promise<boolean> {
    return this.events.delete(id);
  }

  stream(pattern: string): AsyncIterable<BrokerEvent> {
    assertPattern(pattern);
    this.state.assertOpen();
    const entry = { pattern, tail: new LiveTail<BrokerEvent>(() => this.tails.delete(entry)) };
    this.tails.add(entry);
    return entry.tail;
  }

  async deadLetters(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const matches = [...this.deadLetterStore.values()].filter((entry) => filter.group === undefined || entry.group === filter.group);
    return newestWindow(matches, filter).map(({ stored, ...entry }) => ({ ...entry, event: snapshot(stored) }));
  }

  async replay(deadLetterId: string): Promise<void> {
    this.state.assertOpen();
    const entry = this.deadLetterStore.get(deadLetterId);
    if (!entry) throw unknownDeadLetter(deadLetterId);
    const group = this.groups.get(entry.group);
    if (!group || group.consumers === 0) {
      throw new EventBrokerError(
        `Cannot replay dead letter ${printable(deadLetterId, MAX_QUOTED_CHARS)}: group ${entry.group} has no consumer`,
      );
    }
    this.deadLetterStore.delete(deadLetterId);
    let stored = this.events.get(entry.stored.event.id);
    if (!stored) {
      stored = store(snapshot(entry.stored));
      this.remember(stored);
    }
    stored.unsettled++;
    stored.failed = Math.max(0, stored.failed - 1);
    if (stored.failed === 0) {
      stored.event.status = 'pending';
      delete stored.event.error;
    }
    group.ready.push({ stored, attempt: 1 });
    group.changed.notify();
  }

  async stats(): Promise<TransportStats> {
    const groups: Record<string, GroupStats> = {};
    for (const group of this.groups.values()) {
      groups[group.name] = { pending: group.ready.length + group.retryTimers.size, inFlight: group.inFlight, deadLetters: 0 };
    }
    for (const entry of this.deadLetterStore.values()) {
      const stats = groups[entry.group];
      if (stats) stats.deadLetters++;
    }
    return { type: this.type, events: this.events.size, deadLetters: this.deadLetterStore.size, groups };
  }

  async close(): Promise<void> {
    if (this.state.closed) return;
    if (this.connections > 1) {
      this.connections--;
      return;
    }
    this.state.close();
    clearInterval(this.cleanupTimer);
    for (const abort of this.consumerAborts) abort.abort();
    this.consumerAborts.clear();
    for (const group of this.groups.values()) {
      group.retryTimers.forEach(clearTimeout);
      group.retryTimers.clear();
      group.changed.notify();
    }
    for (const { tail } of this.tails) tail.end();
  }

  private joinGroup(spec: ConsumerSpec): MemoryGroup {
    let group = this.groups.get(spec.group);
    if (!group) {
      group = {
        name: spec.group,
        patterns: [...spec.patterns],
        ready: new FifoQueue(),
        retryTimers: new Set(),
        inFlight: 0,
        consumers: 0,
        changed: new Signal(),
      };
      this.groups.set(spec.group, group);
      if (spec.fromBeginning) this.backfill(group);
    } else if (group.consumers > 0 && !samePatterns(group.patterns, spec.patterns)) {
      throw new EventBrokerError(
        `Group ${spec.group} is consumed with patterns [${group.patterns.join(', ')}]; ` +
          `a consumer of the same group cannot use [${spec.patterns.join(', ')}]`,
      );
    } else {
      group.patterns = [...spec.patterns];
    }
    group.consumers++;
    return group;
  }

  /** Queues every event of the history that matches a new group (`fromBeginning`). */
  private backfill(group: MemoryGroup): void {
    for (const stored of this.events.values()) {
      if (!matchAnyPattern(group.patterns, stored.event.type)) continue;
      stored.unsettled++;
      group.ready.push({ stored, attempt: 1 });
    }
  }

  /** Hands the group's ready deliveries to one consumer while its flow control allows. */
  private async feed(
    group: MemoryGroup,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
    signal: AbortSignal,
    unsettled: Unsettled,
  ): Promise<void> {
    while (!signal.aborted) {
      if (flow.capacity() <= 0) {
        await flow.whenReady(signal);
      } else if (group.ready.length === 0) {
        await group.changed.wait(signal);
      } else {
        while (flow.capacity() > 0 && group.ready.length > 0) {
          onDelivery(this.handOut(group, group.name, group.ready.shift() as PendingDelivery, unsettled));
        }
        group.changed.notify();
        // Lets the group's other consumers wait first, so that the next deliveries go to them.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /** A delivery of `pending`; `unsettled` (a consumer's) lets it be released back to the group. */
  private handOut(group: MemoryGroup | undefined, groupName: string, pending: PendingDelivery, unsettled?: Unsettled): Delivery {
    const { stored, attempt } = pending;
    if (stored.event.status === 'pending') this.setStatus(stored.event, 'processing', { processedAt: new Date() });
    if (group) group.inFlight++;
    const guard = new SettleOnce(stored.event.id, groupName);
    const leave = (): void => {
      unsettled?.delete(release);
      if (group) {
        group.inFlight--;
        group.changed.notify();
      }
    };
    const release = (): void => {
      if (!guard.release()) return;
      group?.ready.push({ stored, attempt: attempt + 1 });
      leave();
    };
    unsettled?.add(release);
    /** Whether the call settles the delivery; after a release it is ignored. */
    const settle = (how: Settlement): boolean => {
      if (!guard.settle(how)) return false;
      leave();
      return true;
    };
    const event = snapshot(stored);
    event.status = 'processing';
    event.retryCount = attempt - 1;
    return {
      event,
      group: groupName,
      attempt,
      ack: async () => {
        if (!settle('ack')) return;
        stored.unsettled--;
        if (stored.unsettled === 0 && stored.failed === 0) this.setStatus(stored.event, 'completed', { completedAt: new Date() });
      },
      retry: async (delayMs: number) => {
        if (!group) throw new EventBrokerError(`Cannot retry event ${stored.event.id} later: group ${groupName} has no consumer`);
        if (!settle('retry')) return;
        stored.event.retryCount = Math.max(stored.event.retryCount, attempt);
        const timer = setTimeout(() => {
          group.retryTimers.delete(timer);
          group.ready.push({ stored, attempt: attempt + 1 });
          group.changed.notify();
        }, delayMs);
        group.retryTimers.add(timer);
      },
      deadLetter: async (error: string, attempts = attempt) => {
        if (!settle('dead-letter')) return;
        stored.event.retryCount = Math.max(stored.event.retryCount, attempts - 1);
        stored.unsettled--;
        stored.failed++;
        this.setStatus(stored.event, 'failed', { error });
        this.addDeadLetter({
          id: randomUUID(),
          stored: store(snapshot(stored)),
          group: groupName,
          error,
          attempts,
          deadLetteredAt: new Date(),
        });
      },
    };
  }

  private setStatus(event: BrokerEvent, status: EventStatus, details: StatusDetails): void {
    event.status = status;
    if (details.error !== undefined) event.error = details.error;
    if (details.processedAt) event.processedAt = details.processedAt;
    if (details.completedAt) event.completedAt = details.completedAt;
  }

  private remember(stored: StoredEvent): void {
    this.events.set(stored.event.id, stored);
    while (this.events.size > this.options.maxEvents) this.events.delete(this.events.keys().next().value as string);
  }

  private addDeadLetter(entry: StoredDeadLetter): void {
    this.deadLetterStore.set(entry.id, entry);
    while (this.deadLetterStore.size > this.options.maxDeadLetters) {
      this.deadLetterStore.delete(this.deadLetterStore.keys().next().value as string);
    }
  }

  private removeExpired(): void {
    const oldest = Date.now() - this.options.maxAgeMs;
    for (const [id, { event }] of this.events) {
      if (event.status === 'completed' && event.completedAt && event.completedAt.getTime() < oldest) this.events.delete(id);
    }
  }

  private async drained(group: MemoryGroup): Promise<void> {
    while (!this.state.closed && (group.ready.length > 0 || group.retryTimers.size > 0 || group.inFlight > 0)) {
      await group.changed.wait();
    }
  }
}
