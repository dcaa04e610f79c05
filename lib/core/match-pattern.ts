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

const MATCH_ALL = /(?:)/;
const compiled = new Map<string, RegExp>();
const MAX_COMPILED = 1024;

/** `pattern` as a regular expression over whole types (segments hold no regular-expression syntax). */
function compile(pattern: string): RegExp {
  assertPattern(pattern);
  if (pattern === '*' || pattern === '**') return MATCH_ALL;
  const source = pattern
    .split('.')
    .map((segment) => (segment === '*' ? '[^.]+' : segment === '**' ? '[^.]+(?:\\.[^.]+)*' : segment))
    .join('\\.');
  return new RegExp(`^${source}$`);
}

/**
 * Whether the event `type` matches `pattern`: `*` matches exactly one segment, a trailing `**`
 * one or more, and the pattern `*` (or `**`) alone matches every event. An invalid pattern throws
 * an `InvalidPatternError`.
 */
export function matchPattern(pattern: string, type: string): boolean {
  let expression = compiled.get(pattern);
  if (!expression) {
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    expression = compile(pattern);
    compiled.set(pattern, expression);
  }
  return expression.test(type);
}

/** Whether `type` matches any of `patterns`. */
export function matchAnyPattern(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => matchPattern(pattern, type));
}
