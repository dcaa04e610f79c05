import { Signal } from '../../core/async-primitives.js';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import type { DeadLetter, DeadLetterFilter } from '../../core/dead-letter-store.interface.js';
import type { EventFilter, StatusDetails } from '../../core/event-history.interface.js';
import type {
  Consumer,
  ConsumerSpec,
  Delivery,
  EventTransport,
  FlowControl,
  PublishOptions,
  TransportContext,
  TransportStats,
} from '../../core/event-transport.interface.js';
import type { DeliveryProgress } from './delivery-progress.interface.js';

/**
 * Wraps the transport of a test broker and tells the testing kit what happens on it: every event
 * stored by `publish` (whichever way it was published), and every delivery handed out and settled.
 * `changed` is notified after each of these, so that a waiter re-checks its condition then.
 */
export class ObservedTransport implements EventTransport {
  /** Notified after every publish, settlement, replay and status update. */
  readonly changed = new Signal();
  private readonly published = new Map<string, BrokerEvent>();
  /** Per event id, the groups that hold a delivery of it that has not settled for good. */
  private readonly progress = new Map<string, Map<string, DeliveryProgress>>();

  constructor(private readonly inner: EventTransport) {}

  get type(): string {
    return this.inner.type;
  }

  get durable(): boolean {
    return this.inner.durable;
  }

  get transactional(): boolean {
    return this.inner.transactional;
  }

  /** Every event stored so far, as it was published, oldest first. */
  publishedEvents(): BrokerEvent[] {
    return [...this.published.values()].map((event) => structuredClone(event));
  }

  /** The groups that hold a delivery of the event that has not settled for good. */
  progressOf(eventId: string): DeliveryProgress[] {
    return [...(this.progress.get(eventId)?.values() ?? [])].map((progress) => ({ ...progress }));
  }

  /** The ids of the events that a group holds a delivery of that has not settled for good. */
  unsettledEventIds(): string[] {
    return [...this.progress.keys()];
  }

  connect(context?: TransportContext): Promise<void> {
    return this.inner.connect(context);
  }

  async publish(event: BrokerEvent, options?: PublishOptions): Promise<Delivery[]> {
    try {
      const deliveries = await this.inner.publish(event, options);
      if (!this.published.has(event.id)) this.published.set(event.id, structuredClone(event));
      return deliveries.map((delivery) => this.observe(delivery));
    } finally {
      this.changed.notify();
    }
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    const consumer = await this.inner.consume(spec, (delivery) => onDelivery(this.observe(delivery)), flow);
    return {
      drained: () => consumer.drained(),
      close: () => consumer.close(),
      release: () => this.notifyAfter(consumer.release()),
    };
  }

  get(id: string): Promise<BrokerEvent | null> {
    return this.inner.get(id);
  }

  list(filter?: EventFilter): Promise<BrokerEvent[]> {
    return this.inner.list(filter);
  }

  updateStatus(id: string, status: EventStatus, details?: StatusDetails): Promise<void> {
    return this.notifyAfter(this.inner.updateStatus(id, status, details));
  }

  delete(id: string): Promise<boolean> {
    return this.inner.delete(id);
  }

  stream(pattern: string): AsyncIterable<BrokerEvent> {
    return this.inner.stream(pattern);
  }

  deadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    return this.inner.deadLetters(filter);
  }

  replay(deadLetterId: string): Promise<void> {
    return this.notifyAfter(this.inner.replay(deadLetterId));
  }

  stats(): Promise<TransportStats> {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.notifyAfter(this.inner.close());
  }

  /** The delivery, reporting its settlement to the kit. */
  private observe(delivery: Delivery): Delivery {
    const { event, group, attempt } = delivery;
    this.track(event.id, group, { group, attempt, state: 'in flight' });
    return {
      event,
      group,
      attempt,
      ack: () => this.notifyAfter(delivery.ack(), () => this.untrack(event.id, group)),
      retry: (delayMs, error) =>
        this.notifyAfter(delivery.retry(delayMs, error), () =>
          this.track(event.id, group, { group, attempt, state: 'waiting for a retry', lastError: error }),
        ),
      deadLetter: (error, attempts) => this.notifyAfter(delivery.deadLetter(error, attempts), () => this.untrack(event.id, group)),
    };
  }

  private track(eventId: string, group: string, progress: DeliveryProgress): void {
    let groups = this.progress.get(eventId);
    if (!groups) {
      groups = new Map();
      this.progress.set(eventId, groups);
    }
    groups.set(group, progress);
  }

  private untrack(eventId: string, group: string): void {
    const groups = this.progress.get(eventId);
    groups?.delete(group);
    if (groups?.size === 0) this.progress.delete(eventId);
  }

  private async notifyAfter<T>(operation: Promise<T>, onSuccess?: () => void): Promise<T> {
    try {
      const result = await operation;
      onSuccess?.();
      return result;
    } finally {
      this.changed.notify();
    }
  }
}
