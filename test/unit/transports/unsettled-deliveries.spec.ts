import { describe, expect, it } from 'vitest';
import { UnsettledDeliveries } from '../../../lib/transports/unsettled-deliveries.js';

describe('UnsettledDeliveries', () => {
  it('settles a tracked delivery once, and throws on a second settle', () => {
    const unsettled = new UnsettledDeliveries<string>();
    const settle = unsettled.track('1-0', 'one', 'event-1', 'g');
    expect(unsettled.values()).toEqual(['one']);
    expect(settle('ack')).toBe(true);
    expect(unsettled.values()).toEqual([]);
    expect(() => settle('retry')).toThrow('Delivery of event event-1 to group g was already settled; cannot retry it');
  });

  it('gives the unsettled ones back on release, after which their settles do nothing', () => {
    const unsettled = new UnsettledDeliveries<string>();
    const first = unsettled.track('a', 'A', 'event-a', 'g');
    const second = unsettled.track('b', 'B', 'event-b', 'g');
    expect(second('ack')).toBe(true);
    expect(unsettled.release()).toEqual(['A']);
    expect(first('ack')).toBe(false);
    expect(first('dead-letter')).toBe(false);
    expect(unsettled.values()).toEqual([]);
  });
});
