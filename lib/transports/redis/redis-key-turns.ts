import type { HandedOut } from '../group-consumer.js';
import type { PartitionEntry } from './redis-group-consumer.js';
import { compareIds } from './redis-stream-ids.js';

type Held = HandedOut<PartitionEntry>;

/** One key's turn: the entry out (being handled, or waiting for its retry) and those behind it, in entry order. */
interface Turn {
  key: string;
  partition: number;
  holder: Held;
  retrying: boolean;
  waiting: Held[];
}

/** What `admit` did with an entry. */
export type Admission = 'first' | 'retry' | 'parked' | 'known';

/**
 * The turns of an ordered group's keys in the partitions one consumer owns: one entry of a key at
 * a time, the key's later ones parked behind it in entry order (publish order) until it is acked
 * or dead-lettered. Parked entries stay pending in the group, unacked.
 */
export class RedisKeyTurns {
  private readonly byKey = new Map<string, Turn>();
  /** The turn each entry (`<partition>/<entry id>`) is in, as holder or parked. */
  private readonly byEntry = new Map<string, Turn>();
  /** Entries parked, in all keys. */
  parked = 0;

  /**
   * Takes an entry read or claimed for `key`: the key's first goes now, so does its holder back
   * from a retry; a later one is parked; one already held (claimed again) is `known` and ignored.
   */
  admit(held: Held, key: string): Admission {
    const known = this.byEntry.get(held.received.key);
    if (known) {
      if (!known.retrying || known.holder.received.key !== held.received.key) return 'known';
      known.retrying = false;
      known.holder = held;
      return 'retry';
    }
    const turn = this.byKey.get(key);
    if (!turn) {
      const started: Turn = { key, partition: held.received.message.partition, holder: held, retrying: false, waiting: [] };
      this.byKey.set(key, started);
      this.byEntry.set(held.received.key, started);
      return 'first';
    }
    const at = turn.waiting.findIndex((waiting) => compareIds(waiting.received.message.id, held.received.message.id) > 0);
    turn.waiting.splice(at < 0 ? turn.waiting.length : at, 0, held);
    this.byEntry.set(held.received.key, turn);
    this.parked++;
    return 'parked';
  }

  /** The holder was handled and its retry is due later: the key stays its until it is settled. */
  retrying(entry: string): void {
    const turn = this.byEntry.get(entry);
    if (turn?.holder.received.key === entry) turn.retrying = true;
  }

  /** The holder was acked or dead-lettered: gives the key's next entry, which now holds it, if any. */
  settled(entry: string): Held | undefined {
    const turn = this.byEntry.get(entry);
    if (turn?.holder.received.key !== entry) return undefined;
    this.byEntry.delete(entry);
    const next = turn.waiting.shift();
    if (!next) {
      this.byKey.delete(turn.key);
      return undefined;
    }
    this.parked--;
    turn.holder = next;
    turn.retrying = false;
    return next;
  }

  /**
   * Forgets the partition's parked entries and its holders waiting for a retry (they stay
   * pending, for the partition's next owner), and gives those holders; holders being handled
   * stay until they are settled.
   */
  dropPartition(partition: number): Held[] {
    const retrying: Held[] = [];
    for (const [key, turn] of this.byKey) {
      if (turn.partition !== partition) continue;
      for (const waiting of turn.waiting) this.byEntry.delete(waiting.received.key);
      this.parked -= turn.waiting.length;
      turn.waiting = [];
      if (!turn.retrying) continue;
      retrying.push(turn.holder);
      this.byEntry.delete(turn.holder.received.key);
      this.byKey.delete(key);
    }
    return retrying;
  }

  /** The holders of the partition being handled now. */
  handledIn(partition: number): Held[] {
    return [...this.byKey.values()].filter((turn) => turn.partition === partition && !turn.retrying).map((turn) => turn.holder);
  }

  /** The parked entries of every partition: they are kept from being claimed as abandoned. */
  parkedEntries(): PartitionEntry[] {
    return [...this.byKey.values()].flatMap((turn) => turn.waiting.map((waiting) => waiting.received.message));
  }
}
