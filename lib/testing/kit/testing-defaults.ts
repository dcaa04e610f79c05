import type { RetryOptions } from '../../core/retry-policy.js';

/** Retries of a test app: the default count, 1 to 5 ms apart, so that a dead letter comes within milliseconds. */
export const TESTING_RETRY: Partial<RetryOptions> = { initialDelayMs: 1, maxDelayMs: 5, jitter: 0 };

/** How long `TestEvents` waits when the call does not say. */
export const DEFAULT_WAIT_TIMEOUT_MS = 2000;

/** How soon a wait looks again while a publish is still being checked against its contract. */
export const PUBLISH_CHECK_POLL_MS = 5;
