import { FifoQueue } from './fifo-queue.js';

/**
 * Runs `work` on at most `size` items at once; the rest wait in order. Each busy worker takes the
 * next waiting item as soon as it is done, so a busy pool costs no callback per item.
 */
export class WorkerPool<T> {
  private readonly waiting = new FifoQueue<T>();
  private running = 0;

  /** `work` must not reject: it handles its own errors. */
  constructor(
    private readonly size: number,
    private readonly work: (item: T) => Promise<void>,
  ) {}

  /** Items being worked on now. */
  get active(): number {
    return this.running;
  }

  /** Items waiting for a free worker. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Queues `item`. Its work starts after the caller's turn, never inside this call. */
  run(item: T): void {
    if (this.running < this.size) {
      this.running++;
      void this.worker(item);
    } else {
      this.waiting.push(item);
    }
  }

  /** One worker: `first`, then each waiting item in turn, until none waits. */
  private async worker(first: T): Promise<void> {
    // The caller (a transport handing over a delivery inside a publish, say) finishes its turn first.
    await Promise.resolve();
    let item: T | undefined = first;
    try {
      while (item !== undefined) {
        await this.work(item);
        item = this.waiting.shift();
      }
    } finally {
      this.running--;
    }
  }
}
