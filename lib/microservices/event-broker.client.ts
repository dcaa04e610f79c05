import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import { throwError, type Observable } from 'rxjs';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import { EventBrokerError } from '../core/event-broker.errors.js';
import type { EventBroker } from '../core/event-broker.js';
import { createBroker, createMetrics } from '../nest/event-broker.factory.js';
import { EventRequestContext } from '../nest/event-request-context.js';
import type { EventBrokerMetrics } from '../observability/event-broker-metrics.js';
import type { EventBrokerMicroserviceOptions } from './event-broker-microservice-options.interface.js';
import { MICROSERVICE_OPTION_NAMES } from './microservice-option-names.js';
import { assertKnownOptions } from '../core/known-options.js';
import { EventBrokerRecord } from './event-broker.record.js';
import { quote } from '../core/quote-input.js';

/**
 * A `ClientProxy` whose `emit(type, payload)` publishes a whole event through the broker:
 * durable, traced and counted as `EventPublisher.publish` is, and complete once the transport has
 * accepted it (the Observable gives the stored event). `send` (request-reply) is refused.
 * Register it with `ClientsModule.register([{ name, customClass: EventBrokerClient, options }])`.
 */
export class EventBrokerClient extends ClientProxy {
  private broker?: Promise<EventBroker>;
  private connected?: EventBroker;
  private metrics: EventBrokerMetrics | null = null;

  constructor(private readonly options: EventBrokerMicroserviceOptions = {}) {
    super();
    assertKnownOptions('EventBrokerClient', options, MICROSERVICE_OPTION_NAMES);
  }

  /** Connects the broker (once; `emit` does it on first use). */
  connect(): Promise<EventBroker> {
    this.broker ??= this.open().catch((error: unknown) => {
      this.broker = undefined;
      throw error;
    });
    return this.broker;
  }

  async close(): Promise<void> {
    const opening = this.broker;
    this.broker = undefined;
    this.connected = undefined;
    if (!opening || this.options.broker) return;
    const broker = await opening;
    await broker.stop();
    this.metrics?.untrack(broker);
    this._status$.next('disconnected');
  }

  /** The broker events are published through (once connected). */
  unwrap<T = EventBroker>(): T {
    if (!this.connected) throw new EventBrokerError('EventBrokerClient is not connected: call connect() or emit() first');
    return this.connected as T;
  }

  override send<TResult = never>(pattern: unknown): Observable<TResult> {
    return throwError(() => this.requestReplyError(pattern));
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    callback({ err: this.requestReplyError(packet.pattern) });
    return () => undefined;
  }

  protected async dispatchEvent<T = BrokerEvent>(packet: ReadPacket): Promise<T> {
    const { pattern, data, metadata: outOfBand } = packet as ReadPacket<unknown> & { metadata?: Record<string, string> };
    if (typeof pattern !== 'string') {
      throw new EventBrokerError(
        `EventBrokerClient.emit: the pattern must be an event type string such as 'public.users.create', got ${quote(pattern)}`,
      );
    }
    const broker = await this.connect();
    const record = data instanceof EventBrokerRecord ? data : new EventBrokerRecord(data);
    const request = EventRequestContext.current();
    const event = await broker.publish({
      ...record.options,
      // What Nest's dispatch hook attached (a trace id, a tenant) travels as metadata too.
      metadata: { ...outOfBand, ...record.options.metadata },
      type: pattern,
      payload: record.payload,
      userId: record.options.userId ?? request?.userId,
      sessionId: record.options.sessionId ?? request?.sessionId,
    });
    return event as T;
  }

  private async open(): Promise<EventBroker> {
    if (this.options.broker) return (this.connected = this.options.broker);
    this.metrics = createMetrics(this.options);
    const broker = await createBroker(this.options, this.metrics);
    await broker.start();
    this._status$.next('connected');
    return (this.connected = broker);
  }

  private requestReplyError(pattern: unknown): EventBrokerError {
    return new EventBrokerError(
      `EventBrokerClient.send(${quote(pattern)}): request-reply is not carried by the event broker; use emit() for events, or a request-reply transport for send()`,
    );
  }
}
