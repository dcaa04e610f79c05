import type { RedisClient } from './redis-client.js';

/**
 * Waits for a partition to have an entry after the newest one a read of it found: a blocking
 * XREAD on the partition's connection, which takes nothing from the group, so a consumer can wait
 * on every partition and then read no more than it has room for.
 */
export class RedisPartitionWatch {
  /** The newest entry of the stream when the group last found nothing new in it. */
  newest = '0-0';
  private watching?: Promise<unknown>;
  private since = 0;

  constructor(
    private readonly reader: RedisClient,
    private readonly stream: string,
    private readonly blockMs: number,
  ) {}

  /** Whether its XREAD holds the connection. */
  get running(): boolean {
    return this.watching !== undefined;
  }

  /**
   * Whether the partition had nothing new since its last read: its XREAD is still waiting (one
   * that ran more than twice as long as it may, on a connection that broke, says nothing).
   */
  get quiet(): boolean {
    return this.watching !== undefined && Date.now() - this.since < 2 * this.blockMs;
  }

  /** The XREAD from `newest`: the one running, or a new one. */
  wait(): Promise<unknown> {
    if (this.watching) return this.watching;
    this.since = Date.now();
    this.watching = this.reader.xread('COUNT', 1, 'BLOCK', this.blockMs, 'STREAMS', this.stream, this.newest).finally(() => {
      this.watching = undefined;
    });
    return this.watching;
  }
}
