import type { BrokerEvent, EventSource, EventStatus } from './broker-event.interface.js';

/** Filters of `EventTransport.list`; every one given must hold. */
export interface EventFilter {
  source?: EventSource;
  /** A pattern, as in `@OnEvent`: `public.users.*`. */
  type?: string;
  status?: EventStatus;
  instanceId?: string;
  userId?: string | number;
  /** Created at or after. */
  since?: Date;
  /** Created at or before. */
  until?: Date;
  /** How many events to return, counted back from the newest match (default 100). */
  limit?: number;
  /** How many of the newest matches to skip before counting `limit` (default 0). */
  offset?: number;
}

export interface StatusDetails {
  error?: string;
  processedAt?: Date;
  completedAt?: Date;
}

/** The events a transport holds, with their status: queried by id, by filter, or followed live. */
export interface EventHistory {
  /** The event, or `null` when it is unknown. */
  get(id: string): Promise<BrokerEvent | null>;
  /** Matching events, newest last. */
  list(filter?: EventFilter): Promise<BrokerEvent[]>;
  updateStatus(id: string, status: EventStatus, details?: StatusDetails): Promise<void>;
  /** Whether the event existed. */
  delete(id: string): Promise<boolean>;
  /** A live tail of the events published from now on whose type matches `pattern`. */
  stream(pattern: string): AsyncIterable<BrokerEvent>;
}
