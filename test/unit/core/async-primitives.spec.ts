import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Signal, WaitQueue } from '../../../lib/core/async-primitives.js';

describe('Signal', () => {
  it('wakes its waiters at notify, counts the notifications, and leaves no listener on the abort signal', async () => {
    const signal = new Signal();
    const abort = new AbortController();
    const before = signal.notifications;

    const waiting = signal.wait(abort.signal, 10_000);
    signal.notify();
    await waiting;

    expect(signal.notifications).toBe(before + 1);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });

  it('ends a wait after its timeout, or at once when the abort signal aborts', async () => {
    const signal = new Signal();
    const started = performance.now();
    await signal.wait(undefined, 30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);

    const abort = new AbortController();
    const waiting = signal.wait(abort.signal);
    abort.abort();
    await waiting;
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });
});

describe('WaitQueue', () => {
  it('wakes as many waiters as asked, longest waiting first, and the rest at wakeAll', async () => {
    const queue = new WaitQueue();
    const woken: number[] = [];
    const waits = [1, 2, 3, 4].map((n) => queue.wait().then(() => woken.push(n)));
    queue.wake(2);
    await Promise.all(waits.slice(0, 2));
    expect(woken).toEqual([1, 2]);
    expect(queue.length).toBe(2);
    queue.wakeAll();
    await Promise.all(waits);
    expect(woken).toEqual([1, 2, 3, 4]);
    queue.wake(1);
    expect(queue.length).toBe(0);
  });
});
