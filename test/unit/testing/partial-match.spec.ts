import { describe, expect, it } from 'vitest';
import { matchesPartially } from '../../../lib/testing/kit/partial-match.js';

describe('matchesPartially', () => {
  it('lets objects have more keys, at any depth', () => {
    expect(matchesPartially({ id: 1, user: { name: 'Ada', age: 36 } }, { user: { name: 'Ada' } })).toBe(true);
    expect(matchesPartially({ id: 1, user: { name: 'Ada' } }, { user: { name: 'Grace' } })).toBe(false);
    expect(matchesPartially({ id: 1 }, { id: 1, name: undefined })).toBe(false);
  });

  it('matches arrays item by item, with the same length', () => {
    expect(matchesPartially({ tags: [{ id: 1, name: 'a' }] }, { tags: [{ id: 1 }] })).toBe(true);
    expect(matchesPartially({ tags: ['a', 'b'] }, { tags: ['a'] })).toBe(false);
    expect(matchesPartially({ tags: { 0: 'a', length: 1 } }, { tags: ['a'] })).toBe(false);
  });

  it('compares anything else with Object.is', () => {
    expect(matchesPartially(null, null)).toBe(true);
    expect(matchesPartially(null, {})).toBe(false);
    expect(matchesPartially('1', 1)).toBe(false);
    expect(matchesPartially([], {})).toBe(false);
  });
});
