import { describe, expect, it } from 'vitest';
import { UnsettledDeliveries } from '../../../lib/transports/unsettled-deliveries.js';

describe('UnsettledDeliveries', () => {
  it('settles a tracked delivery once, and throws on a second settle', () => {
    const unsettled = new UnsettledDeliveries<string>();
    const settle = unsettled.track('1-0', 'one', 'Delivery of 1-0');
    expect(unsettled.keys()).toEqual(['1-0']);
    expect(settle()).toBe(true);
    expect(unsettled.keys()).toEqual([]);
    expect(() => settle()).toThrow('Delivery of 1-0 was already settled');
  });

  it('gives the unsettled ones back on release, after which their settles do nothing', () => {
    const unsettled = new UnsettledDeliveries<string>();
    const first = unsettled.track('a', 'A', 'a');
    const second = unsettled.track('b', 'B', 'b');
    expect(second()).toBe(true);
    expect(unsettled.release()).toEqual(['A']);
    expect(first()).toBe(false);
    expect(first()).toBe(false);
    expect(unsettled.values()).toEqual([]);
  });
});
