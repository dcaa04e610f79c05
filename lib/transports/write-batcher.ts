/**
 * Gathers the writes asked for while the event loop is busy and sends them as one (one round trip
 * and one script call for the acks of many handlers that finished together, or for many
 * publishes). A write settles with its batch: with the batch's result at its index, or its error.
 */
export class WriteBatcher<T, R = void> {
  private pending: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];

  constructor(private readonly write: (items: T[]) => Promise<readonly R[] | void>) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      if (this.pending.push({ item, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const results = await this.write(batch.map(({ item }) => item));
      batch.forEach(({ resolve }, index) => resolve(results?.[index] as R));
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }
}
