export interface WaitOptions {
  /** How long to wait before failing with what is still pending (default: the module's `waitTimeoutMs`). */
  timeoutMs?: number;
}
