import { describe, expect, it } from 'vitest';
import { fnv1a32, partitionKeyOf, partitionOf } from '../../../lib/core/partition-key.js';

describe('partition keys', () => {
  it('hashes keys with FNV-1a over their UTF-8 bytes, as other languages compute it', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(fnv1a32('é')).not.toBe(fnv1a32('e'));
  });

  it('partitions by the key, or by the id when the event has none', () => {
    expect(partitionKeyOf({ id: 'e-1', key: 'user-7' })).toBe('user-7');
    expect(partitionKeyOf({ id: 'e-1' })).toBe('e-1');
    expect(partitionOf('user-7', 1)).toBe(0);
    expect(partitionOf('foobar', 4)).toBe(0xbf9cf968 % 4);
  });

  it('spreads ids over the partitions', () => {
    const counts = [0, 0, 0, 0];
    for (let n = 0; n < 4000; n++) counts[partitionOf(crypto.randomUUID(), 4)]++;
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });
});
