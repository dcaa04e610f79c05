import { InvalidEventError } from './event-broker.errors.js';
import { payloadPath } from './payload-path.js';

/** 1 MiB: the default `maxPayloadBytes`. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Where the walk is: its objects from the root down, and the key of each step. */
interface Walk {
  readonly ancestors: object[];
  readonly keys: (string | number)[];
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return 'a BigInt';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'number') return String(value);
  return 'undefined';
}

/** The path of the value the walk is at, e.g. `payload.users[2].id`; built only for an error. */
function pathOf(walk: Walk): string {
  return payloadPath(walk.keys);
}

function hasToJson(value: object): value is { toJSON(key: string): unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

/** Why `value` would not survive JSON, naming the first place that fails, or `undefined`. */
function findNonJson(value: unknown, walk: Walk, applyToJson = true): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${pathOf(walk)} is ${describe(value)}, which JSON turns into null`;
    case 'bigint':
    case 'function':
    case 'symbol':
      return `${pathOf(walk)} is ${describe(value)}, which JSON cannot represent`;
    case 'undefined':
      return `${pathOf(walk)} is undefined`;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (walk.ancestors.includes(object)) return `${pathOf(walk)} refers back to one of its parents (a cycle)`;
  // JSON.stringify calls toJSON once per value, not again on what it returns.
  if (applyToJson && hasToJson(object)) return findNonJson(object.toJSON(String(walk.keys.at(-1) ?? '')), walk, false);
  walk.ancestors.push(object);
  try {
    if (Array.isArray(object)) {
      for (let index = 0; index < object.length; index++) {
        const problem = object[index] === undefined ? undefined : step(object[index], index, walk);
        if (problem) return problem;
      }
      return undefined;
    }
    const record = object as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      const item = record[name];
      if (item === undefined || (name === 'toJSON' && typeof item === 'function')) continue;
      const problem = step(item, name, walk);
      if (problem) return problem;
    }
    return undefined;
  } finally {
    walk.ancestors.pop();
  }
}

function step(value: unknown, key: string | number, walk: Walk): string | undefined {
  walk.keys.push(key);
  const problem = findNonJson(value, walk);
  walk.keys.pop();
  return problem;
}

/**
 * Checks that `payload` is a JSON value no larger than `maxBytes` once serialised, and returns
 * its JSON text. Throws an `InvalidEventError` naming the offending path otherwise.
 */
export function serializePayload(payload: unknown, maxBytes: number): string {
  const problem = findNonJson(payload, { ancestors: [], keys: [] });
  if (problem) throw new InvalidEventError(`Payload is not JSON-serialisable: ${problem}`);
  const json = JSON.stringify(payload);
  // A UTF-16 code unit is at most 3 bytes of UTF-8: most payloads need no count.
  if (json.length * 3 <= maxBytes) return json;
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw new InvalidEventError(`Payload is ${bytes} bytes once serialised, over the limit of ${maxBytes} bytes (maxPayloadBytes)`);
  }
  return json;
}

/**
 * Where an event carries the JSON text of its payload, as checked by `serializePayload` on its way
 * into the event: a property no spread, comparison or serialisation sees. A `WeakMap` from event to
 * text would do the same, but costs the garbage collector far more for every event in flight.
 */
const PAYLOAD_JSON = Symbol('nestjs-event-broker.payloadJson');

interface WithPayloadJson {
  [PAYLOAD_JSON]?: string;
}

/** Remembers `json` as the JSON text of `event`'s payload (which it must stay equal to). */
export function rememberPayloadJson(event: object, json: string): void {
  Object.defineProperty(event, PAYLOAD_JSON, { value: json, writable: true, configurable: true });
}

/** Forgets the JSON text of `event`'s payload: something may have changed the payload since. */
export function forgetPayloadJson(event: object): void {
  if (Object.hasOwn(event, PAYLOAD_JSON)) (event as WithPayloadJson)[PAYLOAD_JSON] = undefined;
}

/** The JSON text of `event`'s payload, from the check that admitted it when there was one. */
export function payloadJsonOf(event: { payload: unknown }): string {
  return (Object.hasOwn(event, PAYLOAD_JSON) ? (event as WithPayloadJson)[PAYLOAD_JSON] : undefined) ?? JSON.stringify(event.payload);
}
