import { klona } from 'klona/json';
import type { BrokerEvent, EventMetadata, EventSource, EventStatus } from '../../core/broker-event.interface.js';
import { jsonFormPayload } from '../../core/payload-validation.js';

/**
 * An event in the history: as published, its status, error and retry count kept in place, and how
 * the groups it was routed to have fared. One object of one shape per event, times as numbers (a
 * history holds many events, and a `Date` is some 90 bytes more); readers get `BrokerEvent`s of
 * their own. Its payload is the one copy this transport keeps: never handed out, so never changed.
 */
export class StoredEvent {
  readonly id: string;
  readonly source: EventSource;
  readonly type: string;
  status: EventStatus;
  readonly payload: unknown;
  readonly userId: string | number | undefined;
  readonly sessionId: string | undefined;
  readonly key: string | undefined;
  readonly instanceId: string;
  readonly schema: string | undefined;
  readonly entity: string | undefined;
  readonly operation: string | undefined;
  readonly createdAtMs: number;
  /** When its first delivery began. */
  processedAtMs: number | undefined;
  /** When the last group it was routed to settled it. */
  completedAtMs: number | undefined;
  error: string | undefined;
  readonly metadata: EventMetadata;
  retryCount: number;
  /** Groups that have neither acked nor dead-lettered it. */
  unsettled = 0;
  /** Groups that dead-lettered it and were not replayed. */
  failed = 0;

  private constructor(
    event: BrokerEvent | StoredEvent,
    payload: unknown,
    processedAtMs: number | undefined,
    completedAtMs: number | undefined,
    createdAtMs: number,
  ) {
    this.id = event.id;
    this.source = event.source;
    this.type = event.type;
    this.status = event.status;
    this.payload = payload;
    this.userId = event.userId;
    this.sessionId = event.sessionId;
    this.key = event.key;
    this.instanceId = event.instanceId;
    this.schema = event.schema;
    this.entity = event.entity;
    this.operation = event.operation;
    this.createdAtMs = createdAtMs;
    this.processedAtMs = processedAtMs;
    this.completedAtMs = completedAtMs;
    this.error = event.error;
    this.metadata = { ...event.metadata };
    this.retryCount = event.retryCount;
  }

  /**
   * What the history keeps of a published event: its payload as JSON carries it, apart from the
   * object the publisher holds (a payload the broker admitted is copied, without a JSON round trip).
   */
  static of(event: BrokerEvent): StoredEvent {
    return new StoredEvent(
      event,
      jsonFormPayload(event),
      event.processedAt?.getTime(),
      event.completedAt?.getTime(),
      event.createdAt.getTime(),
    );
  }

  /** When it was created, for the filters that take a `BrokerEvent`. */
  get createdAt(): Date {
    return new Date(this.createdAtMs);
  }

  /** Another record of the event as it is now (a dead letter's), sharing the payload nobody changes. */
  record(): StoredEvent {
    return new StoredEvent(this, this.payload, this.processedAtMs, this.completedAtMs, this.createdAtMs);
  }

  /** The event as a reader (`get`, `list`, the live tail) gets it: a copy of its own, as it is now. */
  read(): BrokerEvent {
    const event = this.copy(this.status, this.retryCount);
    if (this.processedAtMs !== undefined) event.processedAt = new Date(this.processedAtMs);
    if (this.completedAtMs !== undefined) event.completedAt = new Date(this.completedAtMs);
    if (this.error !== undefined) event.error = this.error;
    return event;
  }

  /**
   * The event as one delivery's handler gets it, as a durable transport hands it over: a copy of
   * its own of the event as published, `processing`, `retryCount` from the attempt, without what
   * other groups made of it meanwhile (the copy is made when the handler is about to run).
   */
  delivered(attempt: number): BrokerEvent {
    return this.copy('processing', attempt - 1);
  }

  /** The published fields, sharing no mutable object with this record, built in one order: one shape for all copies. */
  private copy(status: EventStatus, retryCount: number): BrokerEvent {
    const event: BrokerEvent = {
      id: this.id,
      source: this.source,
      type: this.type,
      status,
      payload: klona(this.payload),
      instanceId: this.instanceId,
      createdAt: new Date(this.createdAtMs),
      metadata: { ...this.metadata },
      retryCount,
    };
    if (this.userId !== undefined) event.userId = this.userId;
    if (this.sessionId !== undefined) event.sessionId = this.sessionId;
    if (this.key !== undefined) event.key = this.key;
    if (this.schema !== undefined) event.schema = this.schema;
    if (this.entity !== undefined) event.entity = this.entity;
    if (this.operation !== undefined) event.operation = this.operation;
    return event;
  }
}
