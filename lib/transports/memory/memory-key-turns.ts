import { FifoQueue } from '../../core/fifo-queue.js';
import { partitionKeyOf } from '../../core/partition-key.js';
import type { PendingDelivery } from './memory-group.js';
import type { StoredEvent } from './stored-event.js';

/**
 * The turns of an ordered group's keys: one delivery of a key at a time (handed out, queued or
 * waiting for a retry), the key's later ones parked behind it in publish order until it is acked
 * or dead-lettered.
 */
export class KeyTurns {
  /** The keys that have a delivery out, each with those parked behind it (`null` until one is). */
  private readonly busy = new Map<string, FifoQueue<PendingDelivery> | null>();
  /** Deliveries parked, in all keys. */
  parked = 0;

  /** Whether the first delivery of `stored` may go now (its key then waits for it); otherwise it is parked. */
  admit(stored: StoredEvent): boolean {
    const key = partitionKeyOf(stored);
    const pending: PendingDelivery = { stored, attempt: 1 };
    const waiting = this.busy.get(key);
    if (waiting === undefined) {
      this.busy.set(key, null);
      return true;
    }
    if (waiting === null) {
      const parked = new FifoQueue<PendingDelivery>();
      parked.push(pending);
      this.busy.set(key, parked);
    } else {
      waiting.push(pending);
    }
    this.parked++;
    return false;
  }

  /** The key's delivery out was acked or dead-lettered: its next parked delivery goes now, if any. */
  next(stored: StoredEvent): PendingDelivery | undefined {
    const key = partitionKeyOf(stored);
    const next = this.busy.get(key)?.shift();
    if (next === undefined) this.busy.delete(key);
    else this.parked--;
    return next;
  }

  /** Every parked delivery, oldest of each key first; the turns are left empty (the group is no longer ordered). */
  drain(): PendingDelivery[] {
    const parked: PendingDelivery[] = [];
    for (const waiting of this.busy.values()) if (waiting) parked.push(...waiting);
    this.busy.clear();
    this.parked = 0;
    return parked;
  }
}
