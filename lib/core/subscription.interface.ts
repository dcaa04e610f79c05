import type { BrokerEvent } from './broker-event.interface.js';
import type { RetryOptions } from './retry-policy.js';

export type EventHandler<T = unknown> = (event: BrokerEvent<T>) => unknown;

export interface SubscribeOptions {
  /**
   * The consumer group: each event reaches one subscriber per group across all instances
   * (default `<serviceName>.<handler name>`).
   */
  group?: string;
  /** Overrides the broker's retry policy for this subscription. */
  retry?: Partial<RetryOptions>;
  /** Deliveries of this subscription in flight at once, at most (default: only the broker's limits). */
  concurrency?: number;
  /** A group that does not exist yet sees the events the transport still holds, not only new ones. */
  fromBeginning?: boolean;
}

/** What `subscribe` returns: the handle for `unsubscribe`. */
export interface Subscription {
  readonly group: string;
  readonly patterns: readonly string[];
}
