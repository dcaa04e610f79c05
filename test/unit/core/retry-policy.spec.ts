import * as fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventBrokerError } from '../../../lib/core/event-broker.errors.js';
import { DEFAULT_RETRY_OPTIONS, backoffDelay, resolveRetryOptions, type RetryOptions } from '../../../lib/core/retry-policy.js';

const noJitter: RetryOptions = { ...DEFAULT_RETRY_OPTIONS, jitter: 0 };
const half = (): number => 0.5;

describe('DEFAULT_RETRY_OPTIONS', () => {
  it('matches the documented defaults', () => {
    expect(DEFAULT_RETRY_OPTIONS).toEqual({ maxRetries: 3, initialDelayMs: 1000, maxDelayMs: 30_000, backoffFactor: 2, jitter: 0.2 });
  });
});

describe('backoffDelay', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('starts at initialDelayMs and grows by backoffFactor', () => {
    const delays = [1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, noJitter, () => 0.7));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000]);
  });

  it('uses the configured factor', () => {
    const options: RetryOptions = { maxRetries: 5, initialDelayMs: 100, maxDelayMs: 100_000, backoffFactor: 3, jitter: 0 };
    expect([1, 2, 3, 4].map((attempt) => backoffDelay(attempt, options, () => 0))).toEqual([100, 300, 900, 2700]);
  });

  it('stays constant with a factor of 1', () => {
    const options: RetryOptions = { maxRetries: 5, initialDelayMs: 250, maxDelayMs: 1000, backoffFactor: 1, jitter: 0 };
    expect([1, 2, 10].map((attempt) => backoffDelay(attempt, options, () => 0))).toEqual([250, 250, 250]);
  });

  it('is capped by maxDelayMs', () => {
    expect(backoffDelay(5, noJitter, () => 0)).toBe(16_000);
    expect(backoffDelay(6, noJitter, () => 0)).toBe(30_000); // 32 000 uncapped
    expect(backoffDelay(20, noJitter, () => 0)).toBe(30_000);
    expect(backoffDelay(2000, noJitter, () => 0)).toBe(30_000); // factor ** attempt is Infinity here
  });

  it('reduces the delay by random() × jitter of itself', () => {
    const options: RetryOptions = { ...DEFAULT_RETRY_OPTIONS, jitter: 0.2 };
    expect(backoffDelay(1, options, () => 0)).toBe(1000);
    expect(backoffDelay(1, options, () => 0.5)).toBe(900);
    expect(backoffDelay(1, options, () => 0.999_999)).toBe(800);
    expect(backoffDelay(3, options, () => 0.25)).toBe(3800);
  });

  it('applies the jitter after the cap, so the delay never exceeds maxDelayMs', () => {
    const options: RetryOptions = { ...DEFAULT_RETRY_OPTIONS, jitter: 0.5 };
    expect(backoffDelay(10, options, () => 0)).toBe(30_000);
    expect(backoffDelay(10, options, () => 0.5)).toBe(22_500);
    expect(backoffDelay(10, options, () => 0.999_999)).toBe(15_000);
  });

  it('is unaffected by random() when jitter is 0', () => {
    expect(backoffDelay(2, noJitter, () => 0.99)).toBe(2000);
  });

  it('uses Math.random by default', () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    expect(backoffDelay(1, DEFAULT_RETRY_OPTIONS)).toBe(900);
    expect(random).toHaveBeenCalledTimes(1);
  });

  it('rounds to whole milliseconds', () => {
    const options: RetryOptions = { maxRetries: 3, initialDelayMs: 10, maxDelayMs: 1000, backoffFactor: 1.5, jitter: 0 };
    expect(backoffDelay(2, options, () => 0)).toBe(15);
    expect(backoffDelay(3, options, () => 0)).toBe(23); // 22.5
  });

  it('always lies between (1 - jitter) and 1 times the capped exponential delay', () => {
    const options = fc.record({
      maxRetries: fc.constant(3),
      initialDelayMs: fc.integer({ min: 0, max: 10_000 }),
      extra: fc.integer({ min: 0, max: 100_000 }),
      backoffFactor: fc.double({ min: 1, max: 4, noNaN: true }),
      jitter: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(
        options,
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        ({ extra, ...rest }, attempt, r) => {
          const retry: RetryOptions = { ...rest, maxDelayMs: rest.initialDelayMs + extra };
          const capped = Math.min(retry.maxDelayMs, retry.initialDelayMs * retry.backoffFactor ** (attempt - 1));
          const delay = backoffDelay(attempt, retry, () => r);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeLessThanOrEqual(Math.round(capped));
          expect(delay).toBeGreaterThanOrEqual(Math.round(capped * (1 - retry.jitter)));
          expect(delay).toBeLessThanOrEqual(retry.maxDelayMs);
        },
      ),
    );
  });

  it('never decreases from one attempt to the next without jitter', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: 1, max: 3, noNaN: true }), (attempt, backoffFactor) => {
        const options: RetryOptions = { ...noJitter, backoffFactor };
        expect(backoffDelay(attempt + 1, options, half)).toBeGreaterThanOrEqual(backoffDelay(attempt, options, half));
      }),
    );
  });
});

describe('resolveRetryOptions', () => {
  it('returns the defaults when given nothing', () => {
    const resolved = resolveRetryOptions(undefined, 'EventBroker');
    expect(resolved).toEqual(DEFAULT_RETRY_OPTIONS);
    expect(resolved).not.toBe(DEFAULT_RETRY_OPTIONS);
  });

  it('fills in the values left out from the base', () => {
    expect(resolveRetryOptions({ maxRetries: 5, jitter: 0 }, 'EventBroker')).toEqual({
      ...DEFAULT_RETRY_OPTIONS,
      maxRetries: 5,
      jitter: 0,
    });
    const base: RetryOptions = { maxRetries: 1, initialDelayMs: 10, maxDelayMs: 20, backoffFactor: 1, jitter: 0 };
    expect(resolveRetryOptions({ maxDelayMs: 50 }, 'group g', base)).toEqual({ ...base, maxDelayMs: 50 });
    expect(resolveRetryOptions({}, 'group g', base)).toEqual(base);
  });

  it('accepts the boundary values', () => {
    const edge: RetryOptions = { maxRetries: 0, initialDelayMs: 0, maxDelayMs: 0, backoffFactor: 1, jitter: 1 };
    expect(resolveRetryOptions(edge, 'x')).toEqual(edge);
    expect(resolveRetryOptions({ jitter: 0, maxDelayMs: 1000 }, 'x')).toEqual({ ...DEFAULT_RETRY_OPTIONS, jitter: 0, maxDelayMs: 1000 });
  });

  it.each([
    [{ maxRetries: -1 }, 'maxRetries must be a non-negative integer, got -1'],
    [{ maxRetries: 1.5 }, 'maxRetries must be a non-negative integer, got 1.5'],
    [{ maxRetries: NaN }, 'maxRetries must be a non-negative integer, got NaN'],
    [{ maxRetries: Infinity }, 'maxRetries must be a non-negative integer, got Infinity'],
    [{ initialDelayMs: -5 }, 'initialDelayMs must be >= 0, got -5'],
    [{ maxDelayMs: 999 }, 'maxDelayMs must be >= initialDelayMs, got 999'],
    [{ maxDelayMs: NaN }, 'maxDelayMs must be >= initialDelayMs, got NaN'],
    [{ backoffFactor: 0.5 }, 'backoffFactor must be >= 1, got 0.5'],
    [{ backoffFactor: NaN }, 'backoffFactor must be >= 1, got NaN'],
    [{ jitter: -0.1 }, 'jitter must be between 0 and 1, got -0.1'],
    [{ jitter: 1.5 }, 'jitter must be between 0 and 1, got 1.5'],
    [{ jitter: NaN }, 'jitter must be between 0 and 1, got NaN'],
  ])('rejects %o, naming the value', (options, problem) => {
    let caught: unknown;
    try {
      resolveRetryOptions(options, 'EventBroker');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EventBrokerError);
    expect((caught as Error).message).toBe(`Invalid retry options for EventBroker: ${problem}`);
  });

  it('rejects a NaN initialDelayMs', () => {
    expect(() => resolveRetryOptions({ initialDelayMs: NaN }, 'EventBroker')).toThrow(
      /^Invalid retry options for EventBroker: initialDelayMs must be >= 0, got NaN(;|$)/,
    );
  });

  it('checks maxDelayMs against the resolved initialDelayMs', () => {
    expect(() => resolveRetryOptions({ initialDelayMs: 60_000 }, 'group mailer')).toThrow(
      'Invalid retry options for group mailer: maxDelayMs must be >= initialDelayMs, got 30000',
    );
  });

  it('lists every problem at once, separated by semicolons', () => {
    expect(() => resolveRetryOptions({ maxRetries: -1, backoffFactor: 0, jitter: 2 }, 'group g')).toThrow(
      'Invalid retry options for group g: maxRetries must be a non-negative integer, got -1; backoffFactor must be >= 1, got 0; jitter must be between 0 and 1, got 2',
    );
  });
});
