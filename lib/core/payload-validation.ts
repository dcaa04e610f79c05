import { klona } from 'klona/json';
import { InvalidEventError } from './event-broker.errors.js';
import { payloadPath } from './payload-path.js';

/** 1 MiB: the default `maxPayloadBytes`. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Where the walk is: its objects from the root down, and the key of each step; what it found so far. */
interface Walk {
  readonly ancestors: object[];
  readonly keys: (string | number)[];
  /** Whether every value seen is as `JSON.parse` would give it back: a copy of it is its JSON form. */
  jsonForm: boolean;
  /** At least the UTF-8 bytes of the JSON text of the values seen, when they are in JSON form. */
  maxBytes: number;
}

function newWalk(): Walk {
  return { ancestors: [], keys: [], jsonForm: true, maxBytes: 0 };
}

/** Longest JSON text of a finite number, e.g. `-1.2345678901234567e-308`. */
const MAX_NUMBER_CHARS = 24;

/** Bytes a string takes in JSON at most: quotes, and 6 per code unit (`\u001f`; any other is 3 at most). */
function maxStringBytes(text: string): number {
  return 2 + 6 * text.length;
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
      // A string built by concatenation is a tree of pieces, which an admitted payload shares and
      // a history then keeps; reading a character makes V8 flatten it into one string.
      value.charCodeAt(0);
      walk.maxBytes += maxStringBytes(value);
      return undefined;
    case 'boolean':
      walk.maxBytes += 5;
      return undefined;
    case 'number':
      if (!Number.isFinite(value)) return `${pathOf(walk)} is ${describe(value)}, which JSON turns into null`;
      // JSON writes -0 as 0.
      if (Object.is(value, -0)) walk.jsonForm = false;
      walk.maxBytes += MAX_NUMBER_CHARS;
      return undefined;
    case 'bigint':
    case 'function':
    case 'symbol':
      return `${pathOf(walk)} is ${describe(value)}, which JSON cannot represent`;
    case 'undefined':
      return `${pathOf(walk)} is undefined`;
  }
  if (value === null) {
    walk.maxBytes += 4;
    return undefined;
  }
  const object = value as object;
  if (walk.ancestors.includes(object)) return `${pathOf(walk)} refers back to one of its parents (a cycle)`;
  // JSON.stringify calls toJSON once per value, not again on what it returns.
  if (applyToJson && hasToJson(object)) {
    walk.jsonForm = false;
    return findNonJson(object.toJSON(String(walk.keys.at(-1) ?? '')), walk, false);
  }
  walk.ancestors.push(object);
  try {
    const isArray = Array.isArray(object);
    // A class instance, a Map, a boxed primitive…: JSON keeps only some of it, or writes it otherwise.
    if (Object.getPrototypeOf(object) !== (isArray ? Array.prototype : Object.prototype)) walk.jsonForm = false;
    walk.maxBytes += 2;
    if (isArray) {
      for (let index = 0; index < object.length; index++) {
        walk.maxBytes += 1;
        // JSON writes an undefined item, or a hole, as null.
        if (object[index] === undefined) {
          walk.jsonForm = false;
          walk.maxBytes += 4;
          continue;
        }
        const problem = step(object[index], index, walk);
        if (problem) return problem;
      }
      return undefined;
    }
    const record = object as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      const item = record[name];
      // JSON leaves these fields out.
      if (item === undefined || (name === 'toJSON' && typeof item === 'function')) {
        walk.jsonForm = false;
        continue;
      }
      walk.maxBytes += maxStringBytes(name) + 2;
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
  return written(payload, checked(payload), maxBytes);
}

/** The walk over `payload`, which throws an `InvalidEventError` naming the first value JSON cannot carry. */
function checked(payload: unknown): Walk {
  const walk = newWalk();
  const problem = findNonJson(payload, walk);
  if (problem) throw new InvalidEventError(`Payload is not JSON-serialisable: ${problem}`);
  return walk;
}

/** The JSON text of a checked payload, unless it is over `maxBytes`. */
function written(payload: unknown, walk: Walk, maxBytes: number): string {
  const json = JSON.stringify(payload);
  // The walk's bound holds for values in JSON form; a UTF-16 code unit is at most 3 bytes of UTF-8.
  if ((walk.jsonForm && walk.maxBytes <= maxBytes) || json.length * 3 <= maxBytes) return json;
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw new InvalidEventError(`Payload is ${bytes} bytes once serialised, over the limit of ${maxBytes} bytes (maxPayloadBytes)`);
  }
  return json;
}

/** A payload as it goes into an event: as JSON gives it back, and its JSON text when it had to be written. */
export interface AdmittedPayload {
  value: unknown;
  json?: string;
}

/**
 * Checks `payload` as `serializePayload` does and returns it as JSON gives it back, sharing no
 * object with it. A payload in JSON form already (plain objects and arrays, no `toJSON`, nothing
 * JSON leaves out) whose text cannot be over the limit is copied as it is: no text is written or
 * parsed. Any other goes through its JSON text, which comes back with it.
 */
export function admitPayload(payload: unknown, maxBytes: number): AdmittedPayload {
  const walk = checked(payload);
  if (walk.jsonForm && walk.maxBytes <= maxBytes) return { value: klona(payload) };
  const json = written(payload, walk, maxBytes);
  return { value: JSON.parse(json), json };
}

/**
 * What an event carries about its payload, as admitted on its way into the event: its JSON text,
 * or `true` when the payload is in JSON form without a text written. A property no spread,
 * comparison or serialisation sees; a `WeakMap` from event to text would do the same, but costs
 * the garbage collector far more for every event in flight.
 */
const ADMITTED = Symbol('nestjs-event-broker.admittedPayload');

interface Admitted {
  [ADMITTED]?: string | true;
}

function admittedOf(event: object): string | true | undefined {
  return Object.hasOwn(event, ADMITTED) ? (event as Admitted)[ADMITTED] : undefined;
}

/** Marks `event`'s payload as admitted (which it must stay equal to): in JSON form, with its text when written. */
export function rememberAdmittedPayload(event: object, admitted: AdmittedPayload): void {
  Object.defineProperty(event, ADMITTED, { value: admitted.json ?? true, writable: true, configurable: true });
}

/** Forgets what was known of `event`'s payload: something may have changed it since. */
export function forgetAdmittedPayload(event: object): void {
  if (Object.hasOwn(event, ADMITTED)) (event as Admitted)[ADMITTED] = undefined;
}

/** The JSON text of `event`'s payload, from the check that admitted it when it wrote one. */
export function payloadJsonOf(event: { payload: unknown }): string {
  const admitted = admittedOf(event);
  return typeof admitted === 'string' ? admitted : JSON.stringify(event.payload);
}

/** A copy of `event`'s payload as JSON gives it back: an admitted one is in that form, and is copied as it is. */
export function jsonFormPayload(event: { payload: unknown }): unknown {
  return admittedOf(event) === undefined ? JSON.parse(JSON.stringify(event.payload)) : klona(event.payload);
}
