import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventBrokerError, InvalidPatternError } from '../../../lib/core/event-broker.errors.js';
import { assertPattern, describeInvalidPattern, matchAnyPattern, matchPattern } from '../../../lib/core/match-pattern.js';

const SEGMENT_CHARS = 'abcXYZ019_-'.split('');
const segment = fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS), minLength: 1, maxLength: 8 });
const segments = fc.array(segment, { minLength: 1, maxLength: 6 });

/** A reference matcher written independently of the library, as a regular expression. */
function referenceMatch(pattern: string, type: string): boolean {
  if (pattern === '*' || pattern === '**') return true;
  const parts = pattern.split('.').map((part, index, all) => {
    if (part === '**' && index === all.length - 1) return '[^.]+(?:\\.[^.]+)*';
    if (part === '*') return '[^.]+';
    return part.replace(/[-\\^$*+?.()|[\]{}]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('\\.')}$`).test(type);
}

describe('matchPattern', () => {
  it.each([
    ['public.users.create', 'public.users.create', true],
    ['public.users.create', 'public.users.update', false],
    ['public.users.create', 'public.users', false],
    ['public.users', 'public.users.create', false],
    ['public.users.*', 'public.users.create', true],
    ['public.users.*', 'public.orders.create', false],
    ['public.*.create', 'public.orders.create', true],
    ['public.*.create', 'public.orders.delete', false],
    ['*.*.*', 'a.b.c', true],
    ['*.*.*', 'a.b', false],
    ['*.*.*', 'a.b.c.d', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a', false],
    ['a.*', 'a.b.c', false],
    ['a.**', 'a.b', true],
    ['a.**', 'a.b.c', true],
    ['a.**', 'a.b.c.d.e', true],
    ['a.**', 'a', false],
    ['a.**', 'b.c', false],
    ['a.**', 'ab.c', false],
    ['a.*.**', 'a.b', false],
    ['a.*.**', 'a.b.c', true],
    ['*.**', 'x', false],
    ['*.**', 'x.y', true],
  ])('matchPattern(%j, %j) is %s', (pattern, type, expected) => {
    expect(matchPattern(pattern, type)).toBe(expected);
  });

  it.each(['*', '**'])('the pattern %j alone matches every event type', (pattern) => {
    for (const type of ['a', 'a.b', 'public.users.create', 'a.b.c.d.e.f']) {
      expect(matchPattern(pattern, type)).toBe(true);
    }
  });

  it('is case-sensitive', () => {
    expect(matchPattern('public.Users.create', 'public.users.create')).toBe(false);
  });

  it('matchAnyPattern is true when at least one pattern matches', () => {
    expect(matchAnyPattern(['a.b', 'c.*'], 'c.d')).toBe(true);
    expect(matchAnyPattern(['a.b', 'c.*'], 'd.c')).toBe(false);
    expect(matchAnyPattern([], 'a')).toBe(false);
  });

  describe('properties', () => {
    it('a type always matches itself', () => {
      fc.assert(
        fc.property(segments, (parts) => {
          const type = parts.join('.');
          expect(matchPattern(type, type)).toBe(true);
        }),
      );
    });

    it('replacing any one segment with * still matches', () => {
      fc.assert(
        fc.property(segments, fc.nat(), (parts, pick) => {
          const index = pick % parts.length;
          const pattern = parts.map((part, i) => (i === index ? '*' : part)).join('.');
          expect(describeInvalidPattern(pattern)).toBeUndefined();
          expect(matchPattern(pattern, parts.join('.'))).toBe(true);
        }),
      );
    });

    it('replacing a segment with a different literal no longer matches', () => {
      fc.assert(
        fc.property(segments, fc.nat(), segment, (parts, pick, other) => {
          const index = pick % parts.length;
          fc.pre(other !== parts[index]);
          const pattern = parts.map((part, i) => (i === index ? other : part)).join('.');
          expect(matchPattern(pattern, parts.join('.'))).toBe(false);
        }),
      );
    });

    it('prefix.** matches every type with that prefix and at least one more segment, but not the prefix alone', () => {
      fc.assert(
        fc.property(segments, fc.array(segment, { minLength: 1, maxLength: 5 }), (prefix, rest) => {
          const pattern = `${prefix.join('.')}.**`;
          expect(describeInvalidPattern(pattern)).toBeUndefined();
          expect(matchPattern(pattern, [...prefix, ...rest].join('.'))).toBe(true);
          expect(matchPattern(pattern, prefix.join('.'))).toBe(false);
        }),
      );
    });

    it('a pattern of literals and * never matches a type with a different segment count', () => {
      const patternParts = fc
        .array(fc.oneof(segment, fc.constant('*')), { minLength: 1, maxLength: 6 })
        .filter((parts) => !(parts.length === 1 && parts[0] === '*'));
      fc.assert(
        fc.property(patternParts, segments, (pattern, type) => {
          fc.pre(pattern.length !== type.length);
          expect(matchPattern(pattern.join('.'), type.join('.'))).toBe(false);
        }),
      );
    });

    it('agrees with a regular-expression reference on small alphabets', () => {
      const small = fc.constantFrom('a', 'b');
      const pattern = fc
        .tuple(fc.array(fc.oneof(small, fc.constant('*')), { minLength: 1, maxLength: 4 }), fc.boolean())
        .map(([parts, globstar]) => (globstar ? [...parts, '**'] : parts).join('.'));
      const type = fc.array(small, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.'));
      fc.assert(
        fc.property(pattern, type, (p, t) => {
          expect(matchPattern(p, t)).toBe(referenceMatch(p, t));
        }),
        { numRuns: 500 },
      );
    });
  });
});

describe('describeInvalidPattern / assertPattern', () => {
  it.each(['*', '**', 'a', 'a.b.c', 'a.*', 'a.**', '*.b.*', '*.**', 'public.users.create', 'Az09_-.x'])('accepts %j', (pattern) => {
    expect(describeInvalidPattern(pattern)).toBeUndefined();
    expect(() => assertPattern(pattern)).not.toThrow();
  });

  it.each([
    ['', 'must not be empty'],
    ['a..b', 'segment 2 of "a..b" must be "*", "**" or match [A-Za-z0-9_-]+'],
    ['.a', 'segment 1 of ".a" must be "*", "**" or match [A-Za-z0-9_-]+'],
    ['a.', 'segment 2 of "a." must be "*", "**" or match [A-Za-z0-9_-]+'],
    ['a.**.b', 'segment 2 of "a.**.b": "**" is only allowed as the last segment'],
    ['**.a', 'segment 1 of "**.a": "**" is only allowed as the last segment'],
    ['public.us ers.create', 'segment 2 of "public.us ers.create" must be "*", "**" or match [A-Za-z0-9_-]+'],
    [' a', 'segment 1 of " a" must be "*", "**" or match [A-Za-z0-9_-]+'],
    ['a.b*', 'segment 2 of "a.b*" must be "*", "**" or match [A-Za-z0-9_-]+'],
    ['a.***', 'segment 2 of "a.***" must be "*", "**" or match [A-Za-z0-9_-]+'],
    ['a/b', 'segment 1 of "a/b" must be "*", "**" or match [A-Za-z0-9_-]+'],
  ])('rejects %j: %s', (pattern, problem) => {
    expect(describeInvalidPattern(pattern)).toBe(problem);
    expect(() => assertPattern(pattern)).toThrow(`Invalid event pattern: ${problem}`);
  });

  it.each([
    [42, 'number'],
    [undefined, 'undefined'],
    [null, 'object'],
    [['a'], 'object'],
  ])('rejects the non-string %j', (pattern, kind) => {
    expect(describeInvalidPattern(pattern)).toBe(`must be a string, got ${kind}`);
    expect(() => assertPattern(pattern)).toThrow(`Invalid event pattern: must be a string, got ${kind}`);
  });

  it('throws an InvalidPatternError, which is an EventBrokerError', () => {
    let caught: unknown;
    try {
      assertPattern('a..b');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidPatternError);
    expect(caught).toBeInstanceOf(EventBrokerError);
    expect((caught as Error).name).toBe('InvalidPatternError');
  });

  it('accepts every pattern built from valid segments, * and a trailing **', () => {
    const part = fc.oneof(segment, fc.constant('*'));
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 6 }), fc.boolean(), (parts, globstar) => {
        const pattern = (globstar ? [...parts, '**'] : parts).join('.');
        expect(describeInvalidPattern(pattern)).toBeUndefined();
      }),
    );
  });

  it('names the first empty segment of a pattern with one', () => {
    fc.assert(
      fc.property(segments, fc.nat(), (parts, pick) => {
        const index = pick % (parts.length + 1);
        const withEmpty = [...parts.slice(0, index), '', ...parts.slice(index)];
        const pattern = withEmpty.join('.');
        expect(describeInvalidPattern(pattern)).toBe(`segment ${index + 1} of "${pattern}" must be "*", "**" or match [A-Za-z0-9_-]+`);
      }),
    );
  });
});

describe('matchPattern with an invalid pattern', () => {
  it('throws an InvalidPatternError instead of answering', () => {
    expect(() => matchPattern('public..create', 'public.users.create')).toThrow(InvalidPatternError);
    expect(() => matchPattern('public.(users|orders).create', 'public.users.create')).toThrow(/segment 2/);
  });
});
