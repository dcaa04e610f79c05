import type { JsonSchema } from './asyncapi-document.interface.js';

function relocate(value: unknown, pointer: string): unknown {
  if (Array.isArray(value)) return value.map((item) => relocate(item, pointer));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, member]) => [
      key,
      key === '$ref' && typeof member === 'string' && member.startsWith('#') ? `${pointer}${member.slice(1)}` : relocate(member, pointer),
    ]),
  );
}

/**
 * `schema` to be placed at `pointer` of the document: its references to its own parts (`#/definitions/…`,
 * `#` for a recursive schema) are resolved against the document, so they are made to point into it.
 */
export function relocatedSchema(schema: JsonSchema, pointer: string): JsonSchema {
  return relocate(schema, pointer) as JsonSchema;
}
