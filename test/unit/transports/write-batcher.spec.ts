import { describe, expect, it } from 'vitest';
import { WriteBatcher } from '../../../lib/transports/write-batcher.js';

/** Lets the batcher's scheduled flush run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('WriteBatcher', () => {
  it('sends the writes asked for together as one, and each caller gets its own result', async () => {
    const writes: number[][] = [];
    const batcher = new WriteBatcher<number, string>(async (items) => {
      writes.push(items);
      return items.map((item) => ({ status: 'fulfilled', value: `stored ${item}` }));
    });

    const results = await Promise.all([batcher.add(1), batcher.add(2), batcher.add(3)]);
    const later = await batcher.add(4);

    expect(writes).toEqual([[1, 2, 3], [4]]);
    expect(results).toEqual(['stored 1', 'stored 2', 'stored 3']);
    expect(later).toBe('stored 4');
  });

  it('fails every write of a batch that fails, and only the item whose own outcome is an error', async () => {
    const failing = new WriteBatcher<number>(async () => {
      throw new Error('connection lost');
    });
    const perItem = new WriteBatcher<number>(async (items) =>
      items.map((item) =>
        item === 2 ? { status: 'rejected', reason: new Error('bad item 2') } : { status: 'fulfilled', value: undefined },
      ),
    );

    const whole = await Promise.allSettled([failing.add(1), failing.add(2)]);
    const single = await Promise.allSettled([perItem.add(1), perItem.add(2), perItem.add(3)]);

    expect(whole.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(single.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((single[1] as PromiseRejectedResult).reason).toEqual(new Error('bad item 2'));
  });

  it('sends at most maxInFlight writes at a time: what is asked for meanwhile waits and goes in the next one', async () => {
    const writes: number[][] = [];
    const answers: (() => void)[] = [];
    const batcher = new WriteBatcher<number>(
      (items) =>
        new Promise<void>((resolve) => {
          writes.push(items);
          answers.push(resolve);
        }),
      500,
      1,
    );

    const first = batcher.add(1);
    await nextTurn();
    const waiting = [batcher.add(2), batcher.add(3)];
    await nextTurn();
    const later = batcher.add(4);
    await nextTurn();
    expect(writes).toEqual([[1]]);

    answers[0]();
    await first;
    await nextTurn();
    expect(writes).toEqual([[1], [2, 3, 4]]);
    answers[1]();
    await Promise.all([...waiting, later]);
  });
});
