const DEFAULT_MAX_BATCH = 500;

/**
 * Gathers the writes asked for while the event loop is busy and sends them as one (one round trip
 * and one script call for the acks of many handlers that finished together, or one INSERT for
 * many publishes). A write settles with its batch: the batch's error, or the outcome at its index
 * when the write gives one per item (so that one bad item fails only its own caller).
 */
export class WriteBatcher<T, R = void> {
  private pending: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  /**
   * `maxBatch` bounds one write (the arguments of a call, the parameters of a statement).
   * `maxInFlight` bounds the writes sent and not yet answered: what is asked for meanwhile waits
   * and goes in the next one, so that a burst takes a few connections of a pool, not all of them.
   */
  constructor(
    private readonly write: (items: T[]) => Promise<readonly PromiseSettledResult<R>[] | void>,
    private readonly maxBatch = DEFAULT_MAX_BATCH,
    private readonly maxInFlight = Number.POSITIVE_INFINITY,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      if (this.pending.push({ item, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    // A write in flight flushes what waits when it is answered; another flush may have taken it all.
    if (this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.maxBatch);
    if (this.pending.length > 0) setImmediate(() => void this.flush());
    this.inFlight++;
    try {
      const outcomes = await this.write(batch.map(({ item }) => item));
      batch.forEach(({ resolve, reject }, index) => {
        const outcome = outcomes?.[index];
        if (outcome?.status === 'rejected') reject(outcome.reason);
        else resolve(outcome?.value as R);
      });
    } catch (error) {
      for (const { reject } of batch) reject(error);
    } finally {
      this.inFlight--;
      if (this.pending.length > 0) setImmediate(() => void this.flush());
    }
  }
}
