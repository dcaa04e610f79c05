import { SettleOnce, type Settlement } from './settle-once.js';

/**
 * The deliveries a consumer handed out and that are not settled yet, by key: what a heartbeat
 * keeps alive and what `release` gives back.
 */
export class UnsettledDeliveries<V> {
  private readonly entries = new Map<string, { value: V; guard: SettleOnce }>();

  /** Tracks one delivery under `key`; the function returned settles it and says whether to record the outcome. */
  track(key: string, value: V, eventId: string, group: string): (how: Settlement) => boolean {
    const guard = new SettleOnce(eventId, group);
    this.entries.set(key, { value, guard });
    return (how) => {
      if (!guard.settle(how)) return false;
      this.entries.delete(key);
      return true;
    };
  }

  values(): V[] {
    return [...this.entries.values()].map((entry) => entry.value);
  }

  /** Marks every tracked delivery released and returns them; their settles no longer count. */
  release(): V[] {
    const values = this.values();
    for (const entry of this.entries.values()) entry.guard.release();
    this.entries.clear();
    return values;
  }
}
