import { describe, expect, it } from 'vitest';
import { EventBrokerError } from '../../../lib/index.js';
import { assertKnownOptions, withoutOptions, type OptionNames } from '../../../lib/core/known-options.js';

interface Options {
  transport?: string;
  maxEvents?: number;
  keyPrefix?: string;
}

const NAMES: OptionNames<Options> = { transport: true, maxEvents: true, keyPrefix: true };

describe('assertKnownOptions', () => {
  it('accepts known options, undefined values and no options at all', () => {
    expect(() => assertKnownOptions('Thing', { transport: 'redis', maxEvents: undefined }, NAMES)).not.toThrow();
    expect(() => assertKnownOptions('Thing', undefined, NAMES)).not.toThrow();
  });

  it('names an unknown option and the one meant when it is close', () => {
    expect(() => assertKnownOptions('Thing', { transprot: 'redis' }, NAMES)).toThrow(
      new EventBrokerError('Thing option transprot is unknown; did you mean transport?'),
    );
    expect(() => assertKnownOptions('Thing', { maxEvent: 5, keyprefix: 'x' }, NAMES)).toThrow(
      'Thing option maxEvent is unknown; did you mean maxEvents?; Thing option keyprefix is unknown; did you mean keyPrefix?',
    );
  });

  it('lists the known options when none is close', () => {
    expect(() => assertKnownOptions('Thing', { partitions: 4 }, NAMES)).toThrow(
      'Thing option partitions is unknown (known options: transport, maxEvents, keyPrefix)',
    );
  });

  it('refuses options that are not an object', () => {
    expect(() => assertKnownOptions('Thing', 'redis', NAMES)).toThrow('Thing options must be an object, got "redis"');
    expect(() => assertKnownOptions('Thing', null, NAMES)).toThrow('Thing options must be an object, got null');
  });
});

describe('withoutOptions', () => {
  it('lists the names of an interface that omits some, leaving the list it came from as it was', () => {
    const narrower = withoutOptions(NAMES, 'transport');
    expect(Object.keys(narrower)).toEqual(['maxEvents', 'keyPrefix']);
    expect(() => assertKnownOptions('Thing', { transport: 'redis' }, narrower)).toThrow('Thing option transport is unknown');
    expect(Object.keys(NAMES)).toEqual(['transport', 'maxEvents', 'keyPrefix']);
  });
});
