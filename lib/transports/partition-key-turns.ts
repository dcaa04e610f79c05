import type { HandedOut } from './group-consumer.js';

/** Where a message of a partitioned log is: what the turns of its keys are kept by. */
export interface PartitionPlace<M> {
  /** The partition the message is in. */
  partition(message: M): number;
  /** `a` compared with `b`, two messages of one partition, in the partition's order: negative, zero or positive. */
  compare(a: M, b: M): number;
}

/** One key's turn: the entry out (being handled, or waiting for its retry) and those behind it, in entry order. */
interface Turn<M> {
  key: string;
  partition: number;
  holder: HandedOut<M>;
  retrying: boolean;
  waiting: HandedOut<M>[];
}

/** What `admit` did with an entry. */
export type Admission = 'first' | 'retry' | 'parked' | 'known';

/**
 * The turns of an ordered group's keys in the partitions one consumer owns: one entry of a key at
 * a time, the key's later ones parked behind it in entry order (publish order) until it is acked
 * or dead-lettered. Parked entries stay pending in the group, unacked. An entry is known by its
 * received `key`, unique in the group (the same entry read or claimed again has the same one).
 */
export class PartitionKeyTurns<M> {
  private readonly byKey = new Map<string, Turn<M>>();
  /** The turn each entry is in, as holder or parked. */
  private readonly byEntry = new Map<string, Turn<M>>();
  /** Entries parked, in all keys. */
  parked = 0;

  constructor(private readonly place: PartitionPlace<M>) {}

  /**
   * Takes an entry read or claimed for `key`: the key's first goes now, so does its holder back
   * from a retry; a later one is parked; one already held (claimed again) is `known` and ignored.
   */
  admit(held: HandedOut<M>, key: string): Admission {
    const known = this.byEntry.get(held.received.key);
    if (known) {
      if (!known.retrying || known.holder.received.key !== held.received.key) return 'known';
      known.retrying = false;
      known.holder = held;
      return 'retry';
    }
    const turn = this.byKey.get(key);
    if (!turn) {
      const partition = this.place.partition(held.received.message);
      const started: Turn<M> = { key, partition, holder: held, retrying: false, waiting: [] };
      this.byKey.set(key, started);
      this.byEntry.set(held.received.key, started);
      return 'first';
    }
    const at = turn.waiting.findIndex((waiting) => this.place.compare(waiting.received.message, held.received.message) > 0);
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
  settled(entry: string): HandedOut<M> | undefined {
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
  dropPartition(partition: number): HandedOut<M>[] {
    const retrying: HandedOut<M>[] = [];
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
  handledIn(partition: number): HandedOut<M>[] {
    return [...this.byKey.values()].filter((turn) => turn.partition === partition && !turn.retrying).map((turn) => turn.holder);
  }

  /** The parked entries of every partition: they are kept from being claimed as abandoned. */
  parkedEntries(): M[] {
    return [...this.byKey.values()].flatMap((turn) => turn.waiting.map((waiting) => waiting.received.message));
  }
}
