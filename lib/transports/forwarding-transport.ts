import type { BrokerEvent, EventStatus } from '../core/broker-event.interface.js';
import type { DeadLetter, DeadLetterFilter } from '../core/dead-letter-store.interface.js';
import type { EventFilter, StatusDetails } from '../core/event-history.interface.js';
import type {
  Consumer,
  ConsumerSpec,
  Delivery,
  EventTransport,
  FlowControl,
  PublishOptions,
  TransportContext,
  TransportStats,
} from '../core/event-transport.interface.js';

/**
 * A transport in front of another: every call goes to `inner` unless a subclass overrides it, so
 * that a wrapper (an outbox, an observer) writes only what it adds.
 */
export abstract class ForwardingTransport implements EventTransport {
  constructor(readonly inner: EventTransport) {}

  get type(): string {
    return this.inner.type;
  }

  get durable(): boolean {
    return this.inner.durable;
  }

  get transactional(): boolean {
    return this.inner.transactional;
  }

  get orderedGroups(): boolean {
    return this.inner.orderedGroups ?? false;
  }

  connect(context?: TransportContext): Promise<void> {
    return this.inner.connect(context);
  }

  publish(event: BrokerEvent, options?: PublishOptions): Promise<Delivery[]> {
    return this.inner.publish(event, options);
  }

  consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer> {
    return this.inner.consume(spec, onDelivery, flow);
  }

  get(id: string): Promise<BrokerEvent | null> {
    return this.inner.get(id);
  }

  list(filter?: EventFilter): Promise<BrokerEvent[]> {
    return this.inner.list(filter);
  }

  updateStatus(id: string, status: EventStatus, details?: StatusDetails): Promise<void> {
    return this.inner.updateStatus(id, status, details);
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
    return this.inner.replay(deadLetterId);
  }

  stats(): Promise<TransportStats> {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
