import type { StandardJSONSchemaV1 } from '@standard-schema/spec';
import { errorMessage } from '../core/error-message.js';
import type { EventContract } from '../core/event-contract.interface.js';
import type { JsonSchema } from './asyncapi-document.interface.js';

/** The JSON Schema version asked of a contract's schema: the base of the AsyncAPI Schema. */
export const PAYLOAD_SCHEMA_TARGET = 'draft-07';
export const PAYLOAD_SCHEMA_FORMAT = 'application/schema+json;version=draft-07';

/** A contract's payload as JSON Schema, or why there is none. */
export type PayloadJsonSchema = { schema: JsonSchema } | { problem: string };

function jsonSchemaConverter(contract: EventContract): StandardJSONSchemaV1.Converter | undefined {
  const props = contract.schema['~standard'] as Partial<StandardJSONSchemaV1.Props>;
  const converter = props.jsonSchema;
  return typeof converter?.input === 'function' ? converter : undefined;
}

/**
 * The JSON Schema of what a publisher of the contract sends: the schema's input, as every payload is
 * stored as given. It comes from the schema itself (Standard JSON Schema: zod 4, ArkType, class-validator
 * classes with class-validator-jsonschema, …); a schema without it, or one that cannot say its
 * payload in JSON Schema (a `z.date()`, a transform), gives the reason instead.
 */
export function payloadJsonSchema(contract: EventContract): PayloadJsonSchema {
  const vendor = contract.schema['~standard'].vendor;
  const converter = jsonSchemaConverter(contract);
  if (!converter) return { problem: `its ${vendor} schema does not offer a JSON Schema (Standard JSON Schema)` };
  try {
    return { schema: converter.input({ target: PAYLOAD_SCHEMA_TARGET }) };
  } catch (error) {
    return { problem: `its ${vendor} schema cannot be written as JSON Schema: ${errorMessage(error)}` };
  }
}
