import { InvalidEventError } from './event-broker.errors.js';
import { quote } from './quote-input.js';

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const EVENT_TYPE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/** Why `type` is not a valid event type, or `undefined` when it is. */
export function describeInvalidEventType(type: unknown): string | undefined {
  if (typeof type !== 'string') return `must be a string, got ${typeof type}`;
  if (type.length === 0) return 'must not be empty';
  if (EVENT_TYPE.test(type)) return undefined;
  const bad = type.split('.').findIndex((segment) => !SEGMENT.test(segment));
  if (bad === -1) return undefined;
  return `segment ${bad + 1} of ${quote(type)} must match [A-Za-z0-9_-]+`;
}

export function assertEventType(type: unknown): asserts type is string {
  const problem = describeInvalidEventType(type);
  if (problem) throw new InvalidEventError(`Invalid event type: ${problem}`);
}

/** Builds `schema.entity.operation`, e.g. `eventType('public', 'users', 'create')`. */
export function eventType(schema: string, entity: string, operation: string): string {
  for (const [name, segment] of Object.entries({ schema, entity, operation })) {
    if (typeof segment !== 'string' || !SEGMENT.test(segment)) {
      throw new InvalidEventError(`Invalid event type: ${name} ${quote(segment)} must match [A-Za-z0-9_-]+`);
    }
  }
  return `${schema}.${entity}.${operation}`;
}

export interface ParsedEventType {
  schema?: string;
  entity?: string;
  operation?: string;
}

export function parseEventType(type: string): ParsedEventType {
  const segments = type.split('.');
  if (segments.length !== 3) return {};
  const [schema, entity, operation] = segments;
  return { schema, entity, operation };
}

const parsed = new Map<string, Readonly<ParsedEventType>>();
const MAX_PARSED = 1024;

/**
 * `parseEventType`, remembered for the types seen last: an app publishes few types, and its events
 * (in a history that holds many) then share the segment strings instead of holding copies.
 */
export function cachedEventTypeParts(type: string): Readonly<ParsedEventType> {
  let parts = parsed.get(type);
  if (!parts) {
    if (parsed.size >= MAX_PARSED) parsed.clear();
    parts = parseEventType(type);
    parsed.set(type, parts);
  }
  return parts;
}
