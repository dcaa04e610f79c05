import { EventBrokerError } from '../core/event-broker.errors.js';

interface Entry<V> {
  value: V;
  released: boolean;
}

/**
 * The deliveries a consumer handed out and that are not settled yet: what a heartbeat keeps alive
 * and what `release` gives back. Settling a released delivery does nothing (another consumer has
 * it now); settling one twice is a bug and throws.
 */
export class UnsettledDeliveries<V> {
  private readonly entries = new Map<string, Entry<V>>();

  /** Tracks one delivery under `key`; the function returned settles it and says whether to record the outcome. */
  track(key: string, value: V, description: string): () => boolean {
    const entry: Entry<V> = { value, released: false };
    this.entries.set(key, entry);
    let settled = false;
    return () => {
      if (entry.released) return false;
      if (settled) throw new EventBrokerError(`${description} was already settled`);
      settled = true;
      this.entries.delete(key);
      return true;
    };
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  values(): V[] {
    return [...this.entries.values()].map((entry) => entry.value);
  }

  /** Marks every tracked delivery released and returns them; their settles no longer count. */
  release(): V[] {
    const values = this.values();
    for (const entry of this.entries.values()) entry.released = true;
    this.entries.clear();
    return values;
  }
}
