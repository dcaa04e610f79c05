import type { EventStatus } from '../../core/broker-event.interface.js';
import { routes, type NatsEventIndex } from './nats-event-index.js';

/** A group with the position of its durable consumer on one partition's stream, as one query read it. */
export interface PositionedGroup {
  group: string;
  patterns: readonly string[];
  /** The first sequence of the partition's stream routed to the group. */
  startSeq: number;
  /** Every message of the group up to this stream sequence is acked (or terminated). */
  ackFloor: number;
  /** The newest stream sequence the consumer has handed out. */
  delivered: number;
}

/** The status of an event as the engine's state gives it, before a status set by hand. */
export interface DerivedStatus {
  status: EventStatus;
  processedAt?: number;
  completedAt?: number;
  retryCount: number;
}

/**
 * The status of the event at `seq` of one partition (`index` and `groups` are the partition's):
 * failed while a group holds a dead letter of it (`failedIn`); otherwise from the groups it was
 * routed to (those that existed when it was stored, whose patterns match its type) and where
 * each one's consumer stands: done in a group whose ack floor
 * passed it (or that acked it, by the progress records, or handled it inline at publish); pending
 * in a group that has not handed it out; processing otherwise. A replayed copy stands for the
 * event in its group.
 */
export function deriveStatus(
  index: NatsEventIndex,
  seq: number,
  groups: readonly PositionedGroup[],
  failedIn: readonly string[],
): DerivedStatus {
  const type = index.type(seq);
  const skipped = index.skipped(seq);
  let routed = 0;
  let waiting = false;
  let begun = false;
  for (const group of groups) {
    if (seq < group.startSeq || !routes(type, group.patterns)) continue;
    routed++;
    if (failedIn.includes(group.group)) continue;
    if (skipped?.includes(group.group)) {
      begun = true;
      continue;
    }
    const message = index.copy(seq, group.group) ?? seq;
    if (message <= group.ackFloor || index.acked(group.group, seq)) {
      begun = true;
      continue;
    }
    waiting = true;
    if (message <= group.delivered) begun = true;
  }
  const status: EventStatus = failedIn.length > 0 ? 'failed' : !waiting ? 'completed' : begun ? 'processing' : 'pending';
  const createdAt = index.createdAt(seq);
  const retryCount = Math.max(0, index.attempts(seq) - 1);
  if (status === 'pending') return { status, retryCount };
  // Without a progress record (lost, or the event was handled before they were written), the event's creation stands in.
  const processedAt = routed === 0 ? undefined : (index.startedAt(seq) ?? createdAt);
  if (status !== 'completed') return { status, processedAt, retryCount };
  return { status, processedAt, completedAt: Math.max(index.ackedAt(seq) ?? createdAt, processedAt ?? createdAt), retryCount };
}
