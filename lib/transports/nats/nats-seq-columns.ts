type NumberArray = Float64Array | Uint32Array | Uint16Array | Uint8Array;
type NumberArrayConstructor = new (length: number) => NumberArray;

/**
 * Numbers per stream sequence, one typed array per field: a few bytes per message instead of an
 * object each. Sequences are added in about increasing order; those below the stream's first
 * are forgotten.
 */
export class SeqColumns<K extends string> {
  /** The sequence of slot 0. */
  private offset = 1;
  /** Slots in use, from `offset` on. */
  private used = 0;
  readonly columns: Record<K, NumberArray>;

  constructor(private readonly types: Record<K, NumberArrayConstructor>) {
    this.columns = this.allocate(0);
  }

  /** The lowest sequence held. */
  get first(): number {
    return this.offset;
  }

  /** The highest sequence held (`first - 1` when none is). */
  get last(): number {
    return this.offset + this.used - 1;
  }

  /** The slot of `seq`, or -1 when it is not held. */
  find(seq: number): number {
    const slot = seq - this.offset;
    return slot >= 0 && slot < this.used ? slot : -1;
  }

  /** The slot of `seq`, made room for (zeroed when new); -1 for a sequence already forgotten. */
  slot(seq: number): number {
    const slot = seq - this.offset;
    if (slot < 0) return -1;
    if (slot >= this.used) {
      this.reserve(slot + 1);
      this.used = slot + 1;
    }
    return slot;
  }

  /** Forgets the sequences below `seq`. */
  dropBefore(seq: number): void {
    const drop = Math.min(seq - this.offset, this.used);
    if (drop <= 0) {
      if (this.used === 0 && seq > this.offset) this.offset = seq;
      return;
    }
    for (const column of Object.values<NumberArray>(this.columns)) {
      column.copyWithin(0, drop, this.used);
      column.fill(0, this.used - drop, this.used);
    }
    this.offset += drop;
    this.used -= drop;
    if (this.used === 0) this.offset = Math.max(this.offset, seq);
  }

  private reserve(size: number): void {
    const capacity = Object.values<NumberArray>(this.columns)[0]?.length ?? 0;
    if (size <= capacity) return;
    const grown = this.allocate(Math.max(size, capacity * 2, 1024));
    for (const name of Object.keys(this.types) as K[]) grown[name].set(this.columns[name].subarray(0, this.used));
    Object.assign(this.columns, grown);
  }

  private allocate(length: number): Record<K, NumberArray> {
    const columns = {} as Record<K, NumberArray>;
    for (const name of Object.keys(this.types) as K[]) columns[name] = new this.types[name](length);
    return columns;
  }
}
