import type { RetryOptions } from 'nestjs-event-broker';

/** The type of every event of the soak, and the pattern both groups subscribe to. */
export const SOAK_EVENT_TYPE = 'soak.orders.create';
export const SOAK_PATTERN = 'soak.orders.*';

/** Two groups: every event reaches both; only the second has events that always fail. */
export const STEADY_GROUP = 'soak.ledger';
export const FLAKY_GROUP = 'soak.mailer';
export const SOAK_GROUPS = [STEADY_GROUP, FLAKY_GROUP] as const;

export const WORKER_COUNT = 3;

/**
 * Short delays so that the run drains quickly. Room for redeliveries after crashes: a transient
 * event fails at most twice, and a pair delivered more than `maxRetries + 1` times is dead-lettered.
 */
export const SOAK_RETRY: Partial<RetryOptions> = { maxRetries: 8, initialDelayMs: 50, maxDelayMs: 400 };

/** Most transient failures of one (event, group) pair. */
export const MAX_TRANSIENT_FAILURES = 2;
/** Shares of events that fail transiently in a group, and that always fail in the flaky group. */
export const TRANSIENT_SHARE = 0.2;
export const ALWAYS_FAIL_SHARE = 0.05;

/** How soon a killed worker's deliveries are taken over. */
export const ACK_TIMEOUT_MS = 3000;

/** Publishes the producer has in flight at once: some are unacknowledged when it is killed. */
export const PUBLISH_WINDOW = 8;

/** Worker kills are this far apart, picked at random in between. */
export const KILL_INTERVAL_MS = { min: 1000, max: 3000 };

/** The producer publishes its events over this share of the kill period. */
export const PUBLISH_SHARE_OF_RUN = 0.75;

/** How long a process may take to start, and to stop once asked. */
export const START_TIMEOUT_MS = 30_000;
export const STOP_TIMEOUT_MS = 30_000;
