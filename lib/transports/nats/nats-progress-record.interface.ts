import type { EventStatus } from '../../core/broker-event.interface.js';

/** The records of the progress stream: what consumers handed out and acked, and statuses set by hand. */
export type ProgressKind = 'deliveries' | 'status';

/**
 * What the consumers of a process did in one turn of its event loop with the events of one
 * partition (the record's subject names it), at time `t` (ms), per group:
 * `started`, the `[sequence, attempt, …]` pairs handed out; `acked`, the sequences acked. A
 * replayed copy is recorded under the sequence of the event it copies.
 */
export interface DeliveryRecord {
  t: number;
  started?: Record<string, number[]>;
  acked?: Record<string, number[]>;
}

/** A status set by hand (`updateStatus`) for the event at sequence `s` of the partition its subject names; times in ms. */
export interface StatusRecord {
  s: number;
  status: EventStatus;
  error?: string;
  processedAt?: number;
  completedAt?: number;
}
