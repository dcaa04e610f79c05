import type { BrokerEvent } from './broker-event.interface.js';
import type { RetryOptions } from './retry-policy.js';

/** Which delivery a handler call is: for interceptors (tracing, metrics) and handlers that care. */
export interface DeliveryInfo {
  group: string;
  /** 1 on the first call for this (event, group) pair. */
  attempt: number;
  /** The attempt after which a failure is dead-lettered: `maxRetries + 1`. */
  maxAttempts: number;
  /** The transport's type: `memory`, `redis`, … */
  transport: string;
}

export type EventHandler<T = unknown> = (event: BrokerEvent<T>, delivery: DeliveryInfo) => unknown;

export interface SubscribeOptions {
  /**
   * The consumer group: each event reaches one subscriber per group across all instances
   * (default `<serviceName>.<handler name>`, or `<serviceName>.patterns:<hash of the patterns>` for a
   * handler without a name).
   */
  group?: string;
  /** Overrides the broker's retry policy for this subscription. */
  retry?: Partial<RetryOptions>;
  /** Deliveries of this subscription in flight at once, at most (default: only the broker's limits). */
  concurrency?: number;
  /** A group that does not exist yet sees the events the transport still holds, not only new ones. */
  fromBeginning?: boolean;
  /**
   * The group handles the events of one key (the event's `key`, else its id) one at a time, in
   * publish order, across all its instances; a failing event holds back its key's later events
   * until it succeeds or is dead-lettered. Different keys run in parallel. Every consumer of the
   * group must agree. Needs a transport that supports ordered groups (memory, postgres, redis, nats).
   */
  ordered?: boolean;
}

/** What `subscribe` returns: the handle for `unsubscribe`. */
export interface Subscription {
  readonly group: string;
  readonly patterns: readonly string[];
}
