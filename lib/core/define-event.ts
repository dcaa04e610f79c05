import type { StandardSchemaV1 } from '@standard-schema/spec';
import { classValidatorSchema, type PayloadClass, type PlainPayload } from './class-validator-schema.js';
import { InvalidEventError } from './event-broker.errors.js';
import type { EventContract } from './event-contract.interface.js';
import { assertEventType } from './event-type.js';
import { quote } from './quote-input.js';

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const props = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.['~standard'];
  return typeof props === 'object' && props !== null && props.version === 1 && typeof props.validate === 'function';
}

/** Whether `value` is a contract made by `defineEvent` (or shaped like one). */
export function isEventContract(value: unknown): value is EventContract {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    isStandardSchema((value as { schema?: unknown }).schema)
  );
}

/**
 * The contract of events of `type`: their payload follows `schema`, any Standard Schema (zod ≥ 3.24,
 * valibot ≥ 1, arktype, …), or is an instance of a class validated by its class-validator
 * decorators (with class-validator and class-transformer installed). `publish(contract, payload)`
 * checks the payload and `@OnEvent(contract)` types the handler and checks each payload it is delivered.
 */
export function defineEvent<const TType extends string, TSchema extends StandardSchemaV1>(
  type: TType,
  schema: TSchema,
): EventContract<TType, TSchema>;
export function defineEvent<const TType extends string, TPayload extends object>(
  type: TType,
  payloadClass: PayloadClass<TPayload>,
): EventContract<TType, StandardSchemaV1<PlainPayload<TPayload>, TPayload>>;
export function defineEvent(type: string, schema: StandardSchemaV1 | PayloadClass): EventContract {
  assertEventType(type);
  const standard = isStandardSchema(schema) ? schema : classValidatorSchema(type, schema);
  if (!standard) {
    throw new InvalidEventError(
      `defineEvent(${quote(type)}): the schema must be a Standard Schema v1 (zod ≥ 3.24, valibot ≥ 1, arktype, …) or a class-validator class, got ${quote(schema)}`,
    );
  }
  return Object.freeze({ type, schema: standard });
}
