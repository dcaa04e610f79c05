import { randomUUID } from 'node:crypto';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { Signal, WaitQueue } from '../../core/async-primitives.js';
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
import { TransportState } from '../transport-state.js';
import type { MemoryTransportOptions } from './memory-transport-options.interface.js';
import { MAX_QUOTED_CHARS, printable } from '../../core/quote-input.js';
import type { OptionNames } from '../../core/known-options.js';
import { resolveOptions } from '../../core/resolve-options.js';
import type { MemoryConsumer, MemoryGroup, PendingDelivery } from './memory-group.js';
import { MemoryDelivery, type MemoryOutcomes } from './memory-delivery.js';
import { StoredEvent } from './stored-event.js';
import { KeyTurns } from './memory-key-turns.js';

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

function samePatterns(left: readonly string[], right: readonly string[]): boolean {
  const wanted = new Set(right);
  return new Set(left).size === wanted.size && left.every((pattern) => wanted.has(pattern));
}

const NO_GROUPS: readonly string[] = [];

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
  readonly orderedGroups = true;
  private readonly options: Required<MemoryTransportOptions>;
  private readonly events = new Map<string, StoredEvent>();
  /**
   * The history's ids, oldest first, read by one iterator for the lifetime of the transport: a new
   * `keys()` iterator would step over every slot evicted since the map last compacted, on every
   * eviction. It only advances past ids it evicts, and is read only while the history is over its
   * bound, so it always has an id to give.
   */
  private readonly oldestIds = this.events.keys();
  private readonly groups = new Map<string, MemoryGroup>();
  private readonly deadLetterStore = new Map<string, StoredDeadLetter>();
  private readonly tails = new Set<{ pattern: string; tail: LiveTail<BrokerEvent> }>();
  private readonly consumerAborts = new Set<AbortController>();
  private cleanupTimer?: NodeJS.Timeout;
  /** Brokers sharing this transport: it closes when the last one does. */
  private connections = 0;
  private readonly state = new TransportState('MemoryTransport');
  private readonly outcomes: MemoryOutcomes = {
    acked: (stored) => {
      stored.unsettled--;
      if (stored.unsettled === 0 && stored.failed === 0) this.complete(stored);
    },
    retryLater: (group, stored, nextAttempt, delayMs) => {
      stored.retryCount = Math.max(stored.retryCount, nextAttempt - 1);
      const timer = setTimeout(() => {
        group.retryTimers.delete(timer);
        this.enqueue(group, { stored, attempt: nextAttempt });
      }, delayMs);
      group.retryTimers.add(timer);
    },
    deadLettered: (stored, group, error, attempts) => {
      stored.retryCount = Math.max(stored.retryCount, attempts - 1);
      stored.unsettled--;
      stored.failed++;
      this.setStatus(stored, 'failed', { error });
      this.addDeadLetter({ id: randomUUID(), stored: stored.record(), group, error, attempts, deadLetteredAt: new Date() });
    },
    requeue: (group, stored, nextAttempt) => this.enqueue(group, { stored, attempt: nextAttempt }),
    keyDone: (group, stored) => {
      const next = group.turns?.next(stored);
      if (next) this.enqueue(group, next);
    },
  };

  constructor(options: MemoryTransportOptions = {}) {
    this.options = resolveOptions('MemoryTransport', DEFAULTS, options, OPTION_NAMES);
  }

  async connect(): Promise<void> {
    this.state.assertOpen();
    this.connections++;
    this.cleanupTimer ??= setInterval(() => this.removeExpired(), this.options.cleanupIntervalMs).unref();
  }

  publish(event: BrokerEvent, options: PublishOptions = {}): Promise<Delivery[]> {
    try {
      this.state.assertOpen();
      const claimed = options.claimGroups ?? NO_GROUPS;
      const targets: MemoryGroup[] = [];
      for (const group of this.groups.values()) {
        if (group.consumers.length > 0 && !claimed.includes(group.name) && matchAnyPattern(group.patterns, event.type)) targets.push(group);
      }
      if (targets.some(this.full)) return this.publishWhenRoom(event, claimed, targets);
      return Promise.resolve(this.accept(event, claimed, targets));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    this.state.assertOpen();
    spec.patterns.forEach((pattern) => assertPattern(pattern));
    const group = this.joinGroup(spec);
    const consumer: MemoryConsumer = { onDelivery, flow, abort: new AbortController(), unsettled: new Set() };
    group.consumers.push(consumer);
    this.consumerAborts.add(consumer.abort);
    const running = this.feed(group, consumer);
    return {
      drained: () => this.drained(group),
      close: async () => {
        if (consumer.abort.signal.aborted) return;
        consumer.abort.abort();
        this.consumerAborts.delete(consumer.abort);
        await running;
        group.consumers.splice(group.consumers.indexOf(consumer), 1);
      },
      release: async () => {
        for (const delivery of consumer.unsettled) delivery.release();
      },
    };
  }

  async get(id: string): Promise<BrokerEvent | null> {
    const stored = this.events.get(id);
    return stored ? stored.read() : null;
  }

  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    const matches: StoredEvent[] = [];
    for (const stored of this.events.values()) if (matchesFilter(stored, filter)) matches.push(stored);
    return newestWindow(matches, filter).map((stored) => stored.read());
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    const stored = this.events.get(id);
    if (!stored) throw unknownEvent(id);
    this.setStatus(stored, status, details);
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
    return newestWindow(matches, filter).map(({ stored, ...entry }) => ({ ...entry, event: stored.read() }));
  }

  async replay(deadLetterId: string): Promise<void> {
    this.state.assertOpen();
    const entry = this.deadLetterStore.get(deadLetterId);
    if (!entry) throw unknownDeadLetter(deadLetterId);
    const group = this.groups.get(entry.group);
    if (!group || group.consumers.length === 0) {
      throw new EventBrokerError(
        `Cannot replay dead letter ${printable(deadLetterId, MAX_QUOTED_CHARS)}: group ${entry.group} has no consumer`,
      );
    }
    this.deadLetterStore.delete(deadLetterId);
    let stored = this.events.get(entry.stored.id);
    if (!stored) {
      stored = entry.stored.record();
      this.remember(stored);
    }
    stored.unsettled++;
    stored.failed = Math.max(0, stored.failed - 1);
    if (stored.failed === 0) {
      stored.status = 'pending';
      stored.error = undefined;
    }
    if (!group.turns || group.turns.admit(stored)) this.enqueue(group, { stored, attempt: 1 });
  }

  async stats(): Promise<TransportStats> {
    const groups: Record<string, GroupStats> = {};
    for (const group of this.groups.values()) {
      const pending = group.ready.length + group.retryTimers.size + (group.turns?.parked ?? 0);
      groups[group.name] = { pending, inFlight: group.inFlight, deadLetters: 0 };
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
      group.room.wakeAll();
      group.changed.notify();
    }
    for (const { tail } of this.tails) tail.end();
  }

  /** Deliveries parked behind their key count too: they are the group's backlog as much as its queue. */
  private readonly full = (group: MemoryGroup): boolean =>
    (group.turns === undefined ? group.ready.length : group.ready.length + group.turns.parked) >= this.options.maxQueued;

  /** Waits until every group the event goes to has room in its queue, then accepts it. */
  private async publishWhenRoom(event: BrokerEvent, claimed: readonly string[], targets: MemoryGroup[]): Promise<Delivery[]> {
    for (const group of targets) {
      while (this.full(group) && !this.state.closed) await group.room.wait();
    }
    this.state.assertOpen();
    return this.accept(event, claimed, targets);
  }

  /** Stores the event (once per id) and routes it; returns the deliveries of the groups the publisher claimed. */
  private accept(event: BrokerEvent, claimed: readonly string[], targets: MemoryGroup[]): Delivery[] {
    if (this.events.has(event.id)) return [];
    const stored = StoredEvent.of(event);
    stored.unsettled = targets.length + claimed.length;
    if (stored.unsettled === 0) this.complete(stored);
    this.remember(stored);
    for (const { pattern, tail } of this.tails) if (matchPattern(pattern, event.type)) tail.push(stored.read());
    for (const group of targets) this.route(group, stored);
    return claimed.map((name) => this.handOut(name, this.groups.get(name), stored, 1));
  }

  private joinGroup(spec: ConsumerSpec): MemoryGroup {
    let group = this.groups.get(spec.group);
    if (!group) {
      group = {
        name: spec.group,
        patterns: [...spec.patterns],
        turns: spec.ordered ? new KeyTurns() : undefined,
        ready: new FifoQueue(),
        retryTimers: new Set(),
        consumers: [],
        turn: 0,
        inFlight: 0,
        queued: new Signal(),
        room: new WaitQueue(),
        changed: new Signal(),
      };
      this.groups.set(spec.group, group);
      if (spec.fromBeginning) this.backfill(group);
    } else if (group.consumers.length > 0 && !samePatterns(group.patterns, spec.patterns)) {
      throw new EventBrokerError(
        `Group ${spec.group} is consumed with patterns [${group.patterns.join(', ')}]; ` +
          `a consumer of the same group cannot use [${spec.patterns.join(', ')}]`,
      );
    } else if (group.consumers.length > 0 && (group.turns !== undefined) !== (spec.ordered ?? false)) {
      const [consumed, asked] = spec.ordered ? ['unordered', 'ordered'] : ['ordered', 'unordered'];
      throw new EventBrokerError(
        `Group ${spec.group} is consumed ${consumed}; a consumer of the same group cannot consume it ${asked} (give every consumer of a group the same ordered option)`,
      );
    } else {
      this.reorder(group, spec.ordered ?? false);
      group.patterns = [...spec.patterns];
    }
    return group;
  }

  /**
   * A group without consumers is taken by consumers that order it differently: what was parked is
   * queued; or the queue is split into turns, the first delivery of each key queued and the others
   * parked behind it. A group cannot become ordered while deliveries handed out earlier are still
   * in flight or waiting for a retry: they hold no turn, and the key's next one would run beside them.
   */
  private reorder(group: MemoryGroup, ordered: boolean): void {
    if (ordered && !group.turns) {
      const unsettled = group.inFlight + group.retryTimers.size;
      if (unsettled > 0) {
        throw new EventBrokerError(
          `Group ${group.name} cannot become ordered while ${unsettled} of its deliveries are in flight or waiting for a retry; ` +
            'start its ordered consumers once the unordered ones have settled what they took',
        );
      }
      const queued: PendingDelivery[] = [];
      for (let pending = group.ready.shift(); pending; pending = group.ready.shift()) queued.push(pending);
      const split = KeyTurns.of(queued);
      for (const pending of split.queued) group.ready.push(pending);
      group.turns = split.turns;
    } else if (!ordered && group.turns) {
      for (const pending of group.turns.drain()) group.ready.push(pending);
      group.turns = undefined;
    }
  }

  /** Queues every event of the history that matches a new group (`fromBeginning`). */
  private backfill(group: MemoryGroup): void {
    for (const stored of this.events.values()) {
      if (!matchAnyPattern(group.patterns, stored.type)) continue;
      stored.unsettled++;
      if (!group.turns || group.turns.admit(stored)) group.ready.push({ stored, attempt: 1 });
    }
  }

  /**
   * A first delivery: straight to a consumer with room when nothing waits before it (no queue, no
   * wake-up of a feed loop), queued otherwise; in an ordered group, parked while its key has one out.
   */
  private route(group: MemoryGroup, stored: StoredEvent): void {
    if (group.turns && !group.turns.admit(stored)) return;
    const consumer = group.ready.length === 0 ? this.consumerWithRoom(group) : undefined;
    if (consumer) consumer.onDelivery(this.handOut(group.name, group, stored, 1, consumer));
    else this.enqueue(group, { stored, attempt: 1 });
  }

  /** The next open consumer, in turn, that may take a delivery now. */
  private consumerWithRoom(group: MemoryGroup): MemoryConsumer | undefined {
    const { consumers } = group;
    for (let tried = 0; tried < consumers.length; tried++) {
      const index = (group.turn + tried) % consumers.length;
      const consumer = consumers[index];
      if (consumer.abort.signal.aborted || consumer.flow.capacity() <= 0) continue;
      group.turn = index + 1;
      return consumer;
    }
    return undefined;
  }

  /** A delivery of `stored` to `groupName`; the event is `processing` from its first one on. */
  private handOut(
    groupName: string,
    group: MemoryGroup | undefined,
    stored: StoredEvent,
    attempt: number,
    consumer?: MemoryConsumer,
  ): MemoryDelivery {
    if (stored.status === 'pending') {
      stored.status = 'processing';
      stored.processedAtMs = Date.now();
    }
    return new MemoryDelivery(groupName, attempt, stored, group, consumer, this.outcomes);
  }

  private enqueue(group: MemoryGroup, pending: PendingDelivery): void {
    group.ready.push(pending);
    group.queued.notify();
  }

  /** Hands the group's queued deliveries to one consumer while its flow control allows. */
  private async feed(group: MemoryGroup, consumer: MemoryConsumer): Promise<void> {
    const { flow, onDelivery } = consumer;
    const signal = consumer.abort.signal;
    while (!signal.aborted) {
      if (flow.capacity() <= 0) {
        await flow.whenReady(signal);
      } else if (group.ready.length === 0) {
        await group.queued.wait(signal);
      } else {
        let taken = 0;
        while (flow.capacity() > 0 && group.ready.length > 0) {
          const { stored, attempt } = group.ready.shift() as PendingDelivery;
          onDelivery(this.handOut(group.name, group, stored, attempt, consumer));
          taken++;
        }
        group.room.wake(taken);
        group.changed.notify();
        // Lets the group's other consumers wait first, so that the next deliveries go to them.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  private complete(stored: StoredEvent): void {
    stored.status = 'completed';
    stored.completedAtMs = Date.now();
  }

  private setStatus(stored: StoredEvent, status: EventStatus, details: StatusDetails): void {
    stored.status = status;
    if (details.error !== undefined) stored.error = details.error;
    if (details.processedAt) stored.processedAtMs = details.processedAt.getTime();
    if (details.completedAt) stored.completedAtMs = details.completedAt.getTime();
  }

  private remember(stored: StoredEvent): void {
    this.events.set(stored.id, stored);
    while (this.events.size > this.options.maxEvents) this.events.delete(this.oldestIds.next().value as string);
  }

  private addDeadLetter(entry: StoredDeadLetter): void {
    this.deadLetterStore.set(entry.id, entry);
    while (this.deadLetterStore.size > this.options.maxDeadLetters) {
      this.deadLetterStore.delete(this.deadLetterStore.keys().next().value as string);
    }
  }

  private removeExpired(): void {
    const oldest = Date.now() - this.options.maxAgeMs;
    for (const [id, { status, completedAtMs }] of this.events) {
      if (status === 'completed' && completedAtMs !== undefined && completedAtMs < oldest) this.events.delete(id);
    }
  }

  private async drained(group: MemoryGroup): Promise<void> {
    while (!this.state.closed && (group.ready.length > 0 || group.retryTimers.size > 0 || group.inFlight > 0)) {
      await group.changed.wait();
    }
  }
}
