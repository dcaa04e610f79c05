import { FifoQueue } from './fifo-queue.js';

/** Waits `ms`, or less when `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A set of waiters woken together when something they wait for may have changed; each waiter
 * re-checks its own condition.
 */
export class Signal {
  private waiters = new Set<() => void>();
  private count = 0;

  /** How many times `notify` was called: a change since an earlier reading means it was notified meanwhile. */
  get notifications(): number {
    return this.count;
  }

  /** Resolves at the next `notify`, when `abort` aborts, or after `timeoutMs` if given. */
  wait(abort?: AbortSignal, timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve();
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        abort?.removeEventListener('abort', done);
        resolve();
      }
      const waiters = this.waiters;
      waiters.add(done);
      abort?.addEventListener('abort', done, { once: true });
    });
  }

  notify(): void {
    this.count++;
    if (this.waiters.size === 0) return;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const waiter of waiters) waiter();
  }
}

/**
 * Waiters woken first come, first served, as many as there are units of something freed (room in
 * a queue): a `Signal` would wake every waiter for each unit, and all but one would wait again.
 */
export class WaitQueue {
  private readonly waiters = new FifoQueue<() => void>();

  get length(): number {
    return this.waiters.length;
  }

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes the `count` longest waiting. */
  wake(count: number): void {
    for (let woken = 0; woken < count && this.waiters.length > 0; woken++) (this.waiters.shift() as () => void)();
  }

  wakeAll(): void {
    this.wake(this.waiters.length);
  }
}

/**
 * `promise`'s result, or `undefined` as soon as `signal` aborts: for a wait that may never end
 * (a command queued on a client that is reconnecting). The promise is left to settle on its own.
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const abandon = (): void => {
      promise.catch(() => undefined);
      resolve(undefined);
    };
    if (signal.aborted) return abandon();
    signal.addEventListener('abort', abandon, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abandon);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abandon);
        reject(error);
      },
    );
  });
}

/** Whether `promise` settled within `ms` (it is not cancelled either way). */
export async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RepeatOptions {
  /** Pause after the first failure; each further failure doubles it (default 50 ms). */
  firstPauseMs?: number;
  /** Longest pause between failures (default 2000 ms). */
  maxPauseMs?: number;
}

/**
 * Runs `step` over and over until `signal` aborts: the loop of a consumer or relay. A step that
 * throws is reported once per run of failures (`onFirstFailure`: a connection lost, say) and
 * followed by a pause that grows exponentially.
 */
export async function repeatUntilAborted(
  signal: AbortSignal,
  step: () => Promise<unknown>,
  onFirstFailure: (error: unknown) => void,
  { firstPauseMs = 50, maxPauseMs = 2000 }: RepeatOptions = {},
): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    try {
      await step();
      failures = 0;
    } catch (error) {
      if (signal.aborted) break;
      failures++;
      if (failures === 1) onFirstFailure(error);
      await sleep(Math.min(maxPauseMs, firstPauseMs * 2 ** Math.min(failures, 6)), signal);
    }
  }
}
