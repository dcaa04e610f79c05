import { InvalidEventError } from './event-broker.errors.js';

/** 1 MiB: the default `maxPayloadBytes`. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

interface Walk {
  readonly ancestors: object[];
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return 'a BigInt';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'number') return String(value);
  return 'undefined';
}

function hasToJson(value: object): value is { toJSON(key: string): unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

/** Why `value` would not survive JSON, naming the first place that fails, or `undefined`. */
function findNonJson(value: unknown, path: string, walk: Walk, key: string, applyToJson = true): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${describe(value)}, which JSON turns into null`;
    case 'bigint':
    case 'function':
    case 'symbol':
      return `${path} is ${describe(value)}, which JSON cannot represent`;
    case 'undefined':
      return `${path} is undefined`;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (walk.ancestors.includes(object)) return `${path} refers back to one of its parents (a cycle)`;
  // JSON.stringify calls toJSON once per value, not again on what it returns.
  if (applyToJson && hasToJson(object)) return findNonJson(object.toJSON(key), path, walk, key, false);
  walk.ancestors.push(object);
  try {
    if (Array.isArray(object)) {
      for (const [index, item] of object.entries()) {
        const problem = item === undefined ? undefined : findNonJson(item, `${path}[${index}]`, walk, String(index));
        if (problem) return problem;
      }
      return undefined;
    }
    for (const [name, item] of Object.entries(object)) {
      if (item === undefined || (name === 'toJSON' && typeof item === 'function')) continue;
      const problem = findNonJson(item, `${path}.${name}`, walk, name);
      if (problem) return problem;
    }
    return undefined;
  } finally {
    walk.ancestors.pop();
  }
}

/**
 * Checks that `payload` is a JSON value no larger than `maxBytes` once serialised, and returns
 * its JSON text. Throws an `InvalidEventError` naming the offending path otherwise.
 */
export function serializePayload(payload: unknown, maxBytes: number): string {
  const problem = findNonJson(payload, 'payload', { ancestors: [] }, '');
  if (problem) throw new InvalidEventError(`Payload is not JSON-serialisable: ${problem}`);
  const json = JSON.stringify(payload);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw new InvalidEventError(`Payload is ${bytes} bytes once serialised, over the limit of ${maxBytes} bytes (maxPayloadBytes)`);
  }
  return json;
}
