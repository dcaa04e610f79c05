export interface MemoryTransportOptions {
  /** Events kept in the history; the oldest are evicted first (default 1000). */
  maxEvents?: number;
  /** Completed events older than this are removed by the periodic cleanup (default one hour). */
  maxAgeMs?: number;
  /** How often the cleanup runs (default one minute). */
  cleanupIntervalMs?: number;
  /** Dead letters kept; the oldest are evicted first (default 10 000). */
  maxDeadLetters?: number;
  /**
   * Deliveries a group may have waiting; a publish to a fuller group waits until it has room, so
   * that a backlog cannot grow without bound in this process (default 1000).
   */
  maxQueued?: number;
}
