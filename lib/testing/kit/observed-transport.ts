import { Signal } from '../../core/async-primitives.js';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import type { StatusDetails } from '../../core/event-history.interface.js';
import type { Consumer, ConsumerSpec, Delivery, FlowControl, PublishOptions } from '../../core/event-transport.interface.js';
import { ForwardingTransport } from '../../transports/forwarding-transport.js';
import type { DeliveryProgress } from './delivery-progress.interface.js';

/**
 * Wraps the transport of a test broker and tells the testing kit what happens on it: every event
 * stored by `publish` (whichever way it was published), and every delivery handed out and settled.
 * `changed` is notified after each of these, so that a waiter re-checks its condition then.
 */
export class ObservedTransport extends ForwardingTransport {
  /** Notified after every publish, settlement, replay and status update. */
  readonly changed = new Signal();
  private readonly published = new Map<string, BrokerEvent>();
  /** Per event id, the groups that hold a delivery of it that has not settled for good. */
  private readonly progress = new Map<string, Map<string, DeliveryProgress>>();

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

  override async publish(event: BrokerEvent, options?: PublishOptions): Promise<Delivery[]> {
    try {
      const deliveries = await this.inner.publish(event, options);
      if (!this.published.has(event.id)) this.published.set(event.id, structuredClone(event));
      return deliveries.map((delivery) => this.observe(delivery));
    } finally {
      this.changed.notify();
    }
  }

  override async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    const consumer = await this.inner.consume(spec, (delivery) => onDelivery(this.observe(delivery)), flow);
    return {
      drained: () => consumer.drained(),
      close: () => consumer.close(),
      release: () => this.notifyAfter(consumer.release()),
    };
  }

  override updateStatus(id: string, status: EventStatus, details?: StatusDetails): Promise<void> {
    return this.notifyAfter(this.inner.updateStatus(id, status, details));
  }

  override replay(deadLetterId: string): Promise<void> {
    return this.notifyAfter(this.inner.replay(deadLetterId));
  }

  override close(): Promise<void> {
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
