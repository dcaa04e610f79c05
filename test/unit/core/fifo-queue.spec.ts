import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FifoQueue } from '../../../lib/core/fifo-queue.js';

/** The size of the queue's backing array, to check that compaction keeps memory bounded. */
function storageSize(queue: FifoQueue<unknown>): number {
  return (queue as unknown as { items: unknown[] }).items.length;
}

describe('FifoQueue', () => {
  it('starts empty', () => {
    const queue = new FifoQueue<number>();
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
    expect([...queue]).toEqual([]);
  });

  it('returns items in the order they were pushed', () => {
    const queue = new FifoQueue<string>();
    queue.push('a');
    queue.push('b');
    queue.push('c');
    expect(queue.length).toBe(3);
    expect(queue.shift()).toBe('a');
    expect(queue.shift()).toBe('b');
    queue.push('d');
    expect(queue.shift()).toBe('c');
    expect(queue.shift()).toBe('d');
    expect(queue.shift()).toBeUndefined();
    expect(queue.length).toBe(0);
  });

  it('iterates over the queued items without consuming them', () => {
    const queue = new FifoQueue<number>();
    for (let i = 0; i < 5; i++) queue.push(i);
    queue.shift();
    expect([...queue]).toEqual([1, 2, 3, 4]);
    expect([...queue]).toEqual([1, 2, 3, 4]);
    expect(queue.length).toBe(4);
    expect(queue.shift()).toBe(1);
  });

  it('keeps FIFO order across more than 2000 items with interleaved push and shift (compaction path)', () => {
    const queue = new FifoQueue<number>();
    let nextIn = 0;
    let nextOut = 0;
    for (; nextIn < 2500; nextIn++) queue.push(nextIn);
    // Shifting past 1024 with more than half of the array consumed triggers compaction.
    for (; nextOut < 1500; nextOut++) expect(queue.shift()).toBe(nextOut);
    expect(queue.length).toBe(1000);
    expect([...queue]).toEqual(Array.from({ length: 1000 }, (_, i) => 1500 + i));

    // A steady stream: two in, one out (then one in, two out), many times over the compaction threshold.
    for (let round = 0; round < 6000; round++) {
      const pushes = round % 2 === 0 ? 2 : 1;
      for (let k = 0; k < pushes; k++) queue.push(nextIn++);
      for (let k = 0; k < 3 - pushes; k++) expect(queue.shift()).toBe(nextOut++);
      expect(queue.length).toBe(nextIn - nextOut);
    }

    expect([...queue]).toEqual(Array.from({ length: nextIn - nextOut }, (_, i) => nextOut + i));
    while (nextOut < nextIn) expect(queue.shift()).toBe(nextOut++);
    expect(queue.shift()).toBeUndefined();
    expect(queue.length).toBe(0);
    expect(nextIn).toBeGreaterThan(2000 + 6000);
  });

  it('keeps its backing storage bounded under a steady flow', () => {
    const queue = new FifoQueue<number>();
    for (let i = 0; i < 20_000; i++) {
      queue.push(i);
      queue.push(i);
      queue.shift();
      queue.shift();
    }
    expect(queue.length).toBe(0);
    expect(storageSize(queue)).toBeLessThan(2100);
  });

  it('keeps working after being drained across the compaction threshold', () => {
    const queue = new FifoQueue<number>();
    for (let i = 0; i < 3000; i++) queue.push(i);
    for (let i = 0; i < 3000; i++) expect(queue.shift()).toBe(i);
    expect(queue.length).toBe(0);
    queue.push(42);
    queue.push(43);
    expect([...queue]).toEqual([42, 43]);
    expect(queue.shift()).toBe(42);
    expect(queue.shift()).toBe(43);
  });

  it('behaves like an array used as a queue, for any sequence of bulk pushes and shifts', () => {
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), count: fc.integer({ min: 0, max: 1500 }) }),
      fc.record({ kind: fc.constant('shift' as const), count: fc.integer({ min: 0, max: 1500 }) }),
      fc.constant({ kind: 'iterate' as const, count: 0 }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 30 }), (operations) => {
        const queue = new FifoQueue<number>();
        const model: number[] = [];
        // What the queue and the model answered, compared once at the end.
        const actual: unknown[] = [];
        const expected: unknown[] = [];
        let next = 0;
        for (const { kind, count } of operations) {
          if (kind === 'push') {
            for (let i = 0; i < count; i++) {
              queue.push(next);
              model.push(next++);
            }
          } else if (kind === 'shift') {
            for (let i = 0; i < count; i++) {
              actual.push(queue.shift());
              expected.push(model.shift());
            }
          } else {
            actual.push([...queue]);
            expected.push([...model]);
          }
          actual.push(queue.length);
          expected.push(model.length);
        }
        expect(actual).toEqual(expected);
        expect([...queue]).toEqual(model);
      }),
      { numRuns: 50 },
    );
  });
});
