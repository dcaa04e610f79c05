import { createHash } from 'node:crypto';
import type { EventHandler } from './subscription.interface.js';

/** Hex digits of the patterns' hash in the default group of a handler without a name. */
const PATTERN_HASH_LENGTH = 12;

/** The name of `handler` as written in code (`bound handle` gives `handle`), or `''` for an anonymous function. */
export function handlerName(handler: EventHandler): string {
  return handler.name.replace(/^bound /, '');
}

/**
 * The group of a subscription that names none: `<serviceName>.<handler name>`, or for a handler
 * without a name `<serviceName>.patterns:<hash of its patterns>`, in any order. Both are the same on
 * every instance and after every restart, so that instances compete and a durable group resumes.
 */
export function defaultGroup(serviceName: string, handler: EventHandler, patterns: readonly string[]): string {
  const name = handlerName(handler);
  if (name !== '') return `${serviceName}.${name}`;
  const canonical = [...new Set(patterns)].toSorted().join('\n');
  return `${serviceName}.patterns:${createHash('sha256').update(canonical).digest('hex').slice(0, PATTERN_HASH_LENGTH)}`;
}
