import { FifoQueue } from './fifo-queue.js';

/** Runs at most `size` tasks at once; the rest wait in order. */
export class WorkerPool {
  private readonly waiting = new FifoQueue<() => Promise<void>>();
  private running = 0;

  constructor(private readonly size: number) {}

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a free worker. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Queues `task`; it must not reject (the caller handles its own errors). */
  run(task: () => Promise<void>): void {
    if (this.running < this.size) this.start(task);
    else this.waiting.push(task);
  }

  private start(task: () => Promise<void>): void {
    this.running++;
    void task().finally(() => {
      this.running--;
      const next = this.waiting.shift();
      if (next) this.start(next);
    });
  }
}
