import type { BrokerEvent } from '../core/broker-event.interface.js';
import type { DeadLetter } from '../core/dead-letter-store.interface.js';

/** A dead letter of the event a `DashboardEventDetail` shows: which group gave up on it, why, after how many attempts. */
export type DashboardGroupDeadLetter = Omit<DeadLetter, 'event'>;

/** `GET <path>/api/events/:id`. */
export interface DashboardEventDetail {
  event: BrokerEvent;
  /** From the `traceparent` that `tracing: true` writes into the metadata; `null` without one. */
  traceId: string | null;
  /** The event's dead letters still in the store, one per group that exhausted its retries, newest last. */
  deadLetters: DashboardGroupDeadLetter[];
}

/** `POST <path>/api/dead-letters/replay`: each id given, replayed or refused with the reason. */
export interface DashboardReplayResult {
  replayed: string[];
  failed: { id: string; error: string }[];
}
