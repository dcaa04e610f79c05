/** Headers that steer who handles a message. */
export const HEADER_ONLY = 'Eb-Only';
export const HEADER_SKIP = 'Eb-Skip';
export const HEADER_ERROR = 'Eb-Error';
export const HEADER_ATTEMPTS = 'Eb-Attempts';
export const HEADER_GROUP = 'Eb-Group';
export const HEADER_DEAD_AT = 'Eb-Dead-At';
export const HEADER_TRACEPARENT = 'traceparent';
export const HEADER_TRACESTATE = 'tracestate';

/**
 * A group name as a NATS name (durable consumers, KV keys allow no `.`): every character outside
 * `[A-Za-z0-9-]` becomes `_` and its hex code, so that distinct groups stay distinct.
 */
export function encodeName(name: string): string {
  return name.replace(/[^A-Za-z0-9-]/g, (character) => `_${character.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
