import { describe, expect, it, vi } from 'vitest';
import { EventBrokerError } from '../../../lib/core/event-broker.errors.js';
import { DEFAULT_LIVE_TAIL_BUFFER, LiveTail } from '../../../lib/transports/live-tail.js';

/** Lets pending promise callbacks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('LiveTail', () => {
  it('is its own async iterator', () => {
    const tail = new LiveTail<number>(() => undefined);
    expect(tail[Symbol.asyncIterator]()).toBe(tail);
  });

  it('delivers an item pushed while the reader is waiting', async () => {
    const tail = new LiveTail<string>(() => undefined);
    const pending = tail.next();
    let settled = false;
    void pending.then(() => {
      settled = true;
    });
    await flush();
    expect(settled).toBe(false);

    tail.push('a');
    await expect(pending).resolves.toEqual({ value: 'a', done: false });
  });

  it('delivers items buffered before the reader asks, in order', async () => {
    const tail = new LiveTail<number>(() => undefined);
    tail.push(1);
    tail.push(2);
    tail.push(3);
    await expect(tail.next()).resolves.toEqual({ value: 1, done: false });
    await expect(tail.next()).resolves.toEqual({ value: 2, done: false });
    await expect(tail.next()).resolves.toEqual({ value: 3, done: false });
  });

  it('delivers a mix of awaited and buffered items in order to a for-await reader, ending on end()', async () => {
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose);
    const received: number[] = [];
    const reader = (async () => {
      for await (const item of tail) received.push(item);
    })();

    tail.push(0);
    await flush();
    tail.push(1);
    tail.push(2);
    tail.push(3);
    await flush();
    tail.push(4);
    tail.end();
    await reader;

    expect(received).toEqual([0, 1, 2, 3, 4]);
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('end() resolves a waiting reader with done', async () => {
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose);
    const pending = tail.next();
    tail.end();
    await expect(pending).resolves.toEqual({ value: undefined, done: true });
    await expect(tail.next()).resolves.toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('end() still lets the reader drain what was buffered, then finishes', async () => {
    const tail = new LiveTail<string>(() => undefined);
    tail.push('a');
    tail.push('b');
    tail.end();
    tail.push('ignored');
    const received: string[] = [];
    for await (const item of tail) received.push(item);
    expect(received).toEqual(['a', 'b']);
  });

  it('calls onClose only once however it is closed', async () => {
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose);
    tail.end();
    tail.end();
    tail.fail(new Error('late'));
    await tail.return();
    expect(onClose).toHaveBeenCalledTimes(1);
    await expect(tail.next()).resolves.toEqual({ value: undefined, done: true });
  });

  it('breaking out of for-await calls return(), which calls onClose and drops the rest', async () => {
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose);
    tail.push(1);
    tail.push(2);
    tail.push(3);
    const received: number[] = [];
    for await (const item of tail) {
      received.push(item);
      if (item === 1) break;
    }
    expect(received).toEqual([1]);
    expect(onClose).toHaveBeenCalledTimes(1);
    await expect(tail.next()).resolves.toEqual({ value: undefined, done: true });

    tail.push(4);
    await expect(tail.next()).resolves.toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('return() resolves done and closes', async () => {
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose);
    await expect(tail.return()).resolves.toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('closes with an error when the reader falls more than bufferSize items behind', async () => {
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose, 2);
    tail.push(1);
    tail.push(2);
    expect(onClose).not.toHaveBeenCalled();
    tail.push(3);
    expect(onClose).toHaveBeenCalledTimes(1);
    tail.push(4);

    await expect(tail.next()).resolves.toEqual({ value: 1, done: false });
    await expect(tail.next()).resolves.toEqual({ value: 2, done: false });
    const failure = tail.next();
    await expect(failure).rejects.toBeInstanceOf(EventBrokerError);
    await expect(failure).rejects.toThrow('Live tail fell more than 2 events behind and was closed');
    await expect(tail.next()).resolves.toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('makes a for-await reader throw on overflow instead of skipping items silently', async () => {
    const tail = new LiveTail<number>(() => undefined, 3);
    for (let i = 0; i < 10; i++) tail.push(i);
    const received: number[] = [];
    const read = async (): Promise<void> => {
      for await (const item of tail) received.push(item);
    };
    await expect(read()).rejects.toThrow(/fell more than 3 events behind/);
    expect(received).toEqual([0, 1, 2]);
  });

  it('never overflows a reader that keeps up', async () => {
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose, 1);
    for (let i = 0; i < 50; i++) {
      const pending = tail.next();
      tail.push(i);
      await expect(pending).resolves.toEqual({ value: i, done: false });
    }
    expect(onClose).not.toHaveBeenCalled();
  });

  it('buffers DEFAULT_LIVE_TAIL_BUFFER items by default', async () => {
    expect(DEFAULT_LIVE_TAIL_BUFFER).toBe(1000);
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose);
    for (let i = 0; i < DEFAULT_LIVE_TAIL_BUFFER; i++) tail.push(i);
    expect(onClose).not.toHaveBeenCalled();
    tail.push(DEFAULT_LIVE_TAIL_BUFFER);
    expect(onClose).toHaveBeenCalledTimes(1);
    for (let i = 0; i < DEFAULT_LIVE_TAIL_BUFFER; i++) await expect(tail.next()).resolves.toEqual({ value: i, done: false });
    await expect(tail.next()).rejects.toThrow('fell more than 1000 events behind');
  });

  it('fail() rejects a waiting reader with the given error and closes', async () => {
    const onClose = vi.fn<() => void>();
    const tail = new LiveTail<number>(onClose);
    const pending = tail.next();
    const error = new Error('connection lost');
    tail.fail(error);
    await expect(pending).rejects.toBe(error);
    expect(onClose).toHaveBeenCalledTimes(1);
  });
});
