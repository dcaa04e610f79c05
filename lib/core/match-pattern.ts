import { InvalidPatternError } from './event-broker.errors.js';
import { quote } from './quote-input.js';

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Why `pattern` is not a valid subscription pattern, or `undefined` when it is. */
export function describeInvalidPattern(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string') return `must be a string, got ${typeof pattern}`;
  if (pattern.length === 0) return 'must not be empty';
  const segments = pattern.split('.');
  for (const [index, segment] of segments.entries()) {
    const position = `segment ${index + 1} of ${quote(pattern)}`;
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

const compiled = new Map<string, RegExp>();
const MAX_COMPILED = 1024;

/**
 * The regular expression (source, anchored) of the types that match any of `patterns`; its
 * syntax is also PostgreSQL's, so that SQL can match types the way `matchPattern` does.
 */
export function patternsToRegExpSource(patterns: readonly string[]): string {
  const alternatives = patterns.map((pattern) => {
    assertPattern(pattern);
    if (pattern === '*' || pattern === '**') return '.+';
    return pattern
      .split('.')
      .map((segment) => (segment === '*' ? '[^.]+' : segment === '**' ? '[^.]+(\\.[^.]+)*' : segment))
      .join('\\.');
  });
  return `^(${alternatives.join('|')})$`;
}

function compile(pattern: string): RegExp {
  return new RegExp(patternsToRegExpSource([pattern]));
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
  // A loop, not some(): this runs for every group on every publish.
  for (const pattern of patterns) if (matchPattern(pattern, type)) return true;
  return false;
}
