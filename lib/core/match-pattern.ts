import { InvalidPatternError } from './event-broker.errors.js';

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Why `pattern` is not a valid subscription pattern, or `undefined` when it is. */
export function describeInvalidPattern(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string') return `must be a string, got ${typeof pattern}`;
  if (pattern.length === 0) return 'must not be empty';
  const segments = pattern.split('.');
  for (const [index, segment] of segments.entries()) {
    const position = `segment ${index + 1} of "${pattern}"`;
    if (segment === '**') {
      if (index !== segments.length - 1) return `${position}: "**" is only allowed as the last segment`;
    } else if (segment !== '*' && !SEGMENT.test(segment)) {
      return `${position} must be "*", "**" or match [A-Za-z0-9_-]+`;
    }
  }
  return undefined;
}

export function assertPattern(pattern: unknown): asserts pattern is string {
  const problem = describeInvalidPattern(pattern);
  if (problem) throw new InvalidPatternError(`Invalid event pattern: ${problem}`);
}

/**
 * Whether the event `type` matches `pattern`: `*` matches exactly one segment, a trailing `**`
 * one or more, and the pattern `*` (or `**`) alone matches every event.
 */
export function matchPattern(pattern: string, type: string): boolean {
  if (pattern === '*' || pattern === '**') return true;
  const wanted = pattern.split('.');
  const actual = type.split('.');
  for (let index = 0; index < wanted.length; index++) {
    const segment = wanted[index];
    if (segment === '**') return actual.length > index;
    if (index >= actual.length) return false;
    if (segment !== '*' && segment !== actual[index]) return false;
  }
  return wanted.length === actual.length;
}

/** Whether `type` matches any of `patterns`. */
export function matchAnyPattern(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => matchPattern(pattern, type));
}
