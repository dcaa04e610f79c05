import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Signal } from '../../../lib/core/async-primitives.js';

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
