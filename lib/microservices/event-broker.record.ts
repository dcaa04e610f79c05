import type { EventMetadata, EventSource } from '../core/broker-event.interface.js';

/** Envelope fields of an event sent with `EventBrokerClient.emit`, besides its type and payload. */
export interface EventBrokerRecordOptions {
  /** Defaults to `'internal'`. */
  source?: EventSource;
  /** Defaults to the current HTTP request's user. */
  userId?: string | number;
  /** Defaults to the current HTTP request's session. */
  sessionId?: string;
  /** What the event is partitioned and ordered by (an order id, say). */
  key?: string;
  metadata?: EventMetadata;
  /** Give one to make a retried emit idempotent. */
  id?: string;
}

/** `client.emit('public.users.create', new EventBrokerRecord(user, { userId }))`: a payload with envelope fields. */
export class EventBrokerRecord<T = unknown> {
  constructor(
    readonly payload: T,
    readonly options: EventBrokerRecordOptions = {},
  ) {}
}
