/** Headers that steer who handles a message. */
export const HEADER_ONLY = 'Eb-Only';
export const HEADER_SKIP = 'Eb-Skip';
/** On a replayed copy of an event: the sequence of the event it is a copy of, in the same (its partition's) stream. */
export const HEADER_REPLAY_OF = 'Eb-Replay-Of';
/** Headers of a dead letter. */
export const HEADER_ERROR = 'Eb-Error';
export const HEADER_ATTEMPTS = 'Eb-Attempts';
export const HEADER_GROUP = 'Eb-Group';
export const HEADER_DEAD_AT = 'Eb-Dead-At';
export const HEADER_TRACEPARENT = 'traceparent';
export const HEADER_TRACESTATE = 'tracestate';

/**
 * A name as one NATS token (durable consumers, subject tokens and KV keys allow no `.`): every
 * character outside `[A-Za-z0-9-]` becomes `_` and its hex code, so that distinct names stay distinct.
 */
export function encodeName(name: string): string {
  return name.replace(/[^A-Za-z0-9-]/g, (character) => `_${character.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The name `encodeName` made `token` of. */
export function decodeName(token: string): string {
  return token.replace(/_([0-9a-f]{2})/g, (_, code: string) => String.fromCharCode(Number.parseInt(code, 16)));
}
