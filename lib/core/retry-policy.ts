import { EventBrokerError } from './event-broker.errors.js';
import { assertKnownOptions, type OptionNames } from './known-options.js';

export interface RetryOptions {
  /** Attempts after the first; the handler runs at most `maxRetries + 1` times (default 3). */
  maxRetries: number;
  /** Delay before the first retry (default 1000 ms). */
  initialDelayMs: number;
  /** Upper bound of any delay (default 30 000 ms). */
  maxDelayMs: number;
  /** Each retry waits this many times longer than the one before (default 2). */
  backoffFactor: number;
  /** Fraction of each delay that is random, so that retries of many events spread out (default 0.2). */
  jitter: number;
}

export const DEFAULT_RETRY_OPTIONS: RetryOptions = {
  maxRetries: 3,
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  backoffFactor: 2,
  jitter: 0.2,
};

const RETRY_OPTION_NAMES: OptionNames<RetryOptions> = {
  maxRetries: true,
  initialDelayMs: true,
  maxDelayMs: true,
  backoffFactor: true,
  jitter: true,
};

/**
 * The delay before the retry that follows failed attempt `attempt` (1-based): exponential, capped
 * by `maxDelayMs`, then reduced by up to `jitter` of itself at random.
 */
export function backoffDelay(attempt: number, options: RetryOptions, random: () => number = Math.random): number {
  const exponential = options.initialDelayMs * options.backoffFactor ** (attempt - 1);
  const capped = Math.min(options.maxDelayMs, exponential);
  return Math.round(capped * (1 - options.jitter * random()));
}

/** Fills in defaults and checks every value, naming the one that is wrong. */
export function resolveRetryOptions(
  options: Partial<RetryOptions> | undefined,
  where: string,
  base: RetryOptions = DEFAULT_RETRY_OPTIONS,
): RetryOptions {
  assertKnownOptions(`${where} retry`, options, RETRY_OPTION_NAMES);
  const given = Object.fromEntries(Object.entries(options ?? {}).filter(([, value]) => value !== undefined));
  const resolved: RetryOptions = { ...base, ...given };
  const problems: string[] = [];
  if (!Number.isInteger(resolved.maxRetries) || resolved.maxRetries < 0)
    problems.push(`maxRetries must be a non-negative integer, got ${resolved.maxRetries}`);
  if (!(resolved.initialDelayMs >= 0)) problems.push(`initialDelayMs must be >= 0, got ${resolved.initialDelayMs}`);
  else if (!(resolved.maxDelayMs >= resolved.initialDelayMs))
    problems.push(`maxDelayMs must be >= initialDelayMs, got ${resolved.maxDelayMs}`);
  if (!(resolved.backoffFactor >= 1)) problems.push(`backoffFactor must be >= 1, got ${resolved.backoffFactor}`);
  if (!(resolved.jitter >= 0 && resolved.jitter <= 1)) problems.push(`jitter must be between 0 and 1, got ${resolved.jitter}`);
  if (problems.length > 0) throw new EventBrokerError(`Invalid retry options for ${where}: ${problems.join('; ')}`);
  return resolved;
}
