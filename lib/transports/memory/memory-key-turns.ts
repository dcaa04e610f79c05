import { FifoQueue } from '../../core/fifo-queue.js';
import { partitionKeyOf } from '../../core/partition-key.js';
import type { PendingDelivery } from './memory-group.js';
import type { StoredEvent } from './stored-event.js';

/** A key's turn: the event whose delivery is out, and those of the key parked behind it (`null` until one is). */
interface Turn {
  holder: StoredEvent;
  parked: FifoQueue<PendingDelivery> | null;
}

/**
 * The turns of an ordered group's keys: one delivery of a key at a time (handed out, queued or
 * waiting for a retry), the key's later ones parked behind it in publish order until it is acked
 * or dead-lettered.
 */
export class KeyTurns {
  private readonly busy = new Map<string, Turn>();
  /** Deliveries parked, in all keys. */
  parked = 0;

  /**
   * The turns of a group that becomes ordered with `queued` waiting, in order: the first of each
   * key stays queued (it holds the key's turn), the later ones are parked behind it.
   */
  static of(queued: Iterable<PendingDelivery>): { turns: KeyTurns; queued: PendingDelivery[] } {
    const turns = new KeyTurns();
    const first: PendingDelivery[] = [];
    for (const pending of queued) if (turns.admitPending(pending)) first.push(pending);
    return { turns, queued: first };
  }

  /** Whether the first delivery of `stored` may go now (its key then waits for it); otherwise it is parked. */
  admit(stored: StoredEvent): boolean {
    return this.admitPending({ stored, attempt: 1 });
  }

  private admitPending(pending: PendingDelivery): boolean {
    const key = partitionKeyOf(pending.stored);
    const turn = this.busy.get(key);
    if (turn === undefined) {
      this.busy.set(key, { holder: pending.stored, parked: null });
      return true;
    }
    turn.parked ??= new FifoQueue<PendingDelivery>();
    turn.parked.push(pending);
    this.parked++;
    return false;
  }

  /**
   * `stored`'s delivery was acked or dead-lettered: its key's next parked delivery goes now, if
   * any. Nothing happens unless `stored` holds its key's turn: a delivery that was never admitted
   * (handed out before the group was ordered) must not end the turn of another.
   */
  next(stored: StoredEvent): PendingDelivery | undefined {
    const key = partitionKeyOf(stored);
    const turn = this.busy.get(key);
    if (turn?.holder !== stored) return undefined;
    const next = turn.parked?.shift();
    if (next === undefined) {
      this.busy.delete(key);
      return undefined;
    }
    this.parked--;
    turn.holder = next.stored;
    return next;
  }

  /** Every parked delivery, oldest of each key first; the turns are left empty (the group is no longer ordered). */
  drain(): PendingDelivery[] {
    const parked: PendingDelivery[] = [];
    for (const { parked: waiting } of this.busy.values()) if (waiting) parked.push(...waiting);
    this.busy.clear();
    this.parked = 0;
    return parked;
  }
}
