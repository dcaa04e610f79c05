import { createRequire } from 'node:module';
import type { StandardJSONSchemaV1, StandardSchemaV1 } from '@standard-schema/spec';
import type { ValidationError } from 'class-validator';
import { InvalidEventError } from './event-broker.errors.js';
import { quote } from './quote-input.js';

/** A class whose instances are payloads, validated by its class-validator decorators. */
export type PayloadClass<T extends object = object> = new (...args: never[]) => T;

/** The plain object a publisher gives for an instance of `T`: its properties, not its methods. */
export type PlainPayload<T extends object> = { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: T[K] };

type ClassValidator = Pick<typeof import('class-validator'), 'validate'>;
type ClassTransformer = Pick<typeof import('class-transformer'), 'plainToInstance'>;
type JsonSchemaOfClasses = Pick<typeof import('class-validator-jsonschema'), 'targetConstructorToSchema' | 'validationMetadatasToSchemas'>;
type JsonSchema = Record<string, unknown>;

const load = createRequire(import.meta.url);

/** class-validator and class-transformer are optional peers: loaded when a class is given, named when missing. */
function libraries(type: string): { validator: ClassValidator; transformer: ClassTransformer } {
  try {
    return { validator: load('class-validator') as ClassValidator, transformer: load('class-transformer') as ClassTransformer };
  } catch (error) {
    throw new InvalidEventError(
      `defineEvent(${quote(type)}) with a class needs class-validator and class-transformer: npm install class-validator class-transformer`,
      { cause: error },
    );
  }
}

/** The JSON Schema target the decorators are converted to: what class-validator-jsonschema writes. */
const JSON_SCHEMA_TARGET = 'draft-07';
const DEFINITIONS_PREFIX = '#/definitions/';

/** The names of the classes `schema` refers to, as `#/definitions/<name>`. */
function referencedClasses(schema: unknown): string[] {
  if (typeof schema !== 'object' || schema === null) return [];
  return Object.entries(schema).flatMap(([key, value]) =>
    key === '$ref' && typeof value === 'string' && value.startsWith(DEFINITIONS_PREFIX)
      ? [value.slice(DEFINITIONS_PREFIX.length)]
      : referencedClasses(value),
  );
}

/**
 * The JSON Schema of a class from its decorators (class-validator-jsonschema, an optional peer):
 * nested classes are `$ref`s into the schema's own `definitions`, so that it stands alone.
 */
function classJsonSchema(type: string, payloadClass: PayloadClass, options: StandardJSONSchemaV1.Options): JsonSchema {
  if (options.target !== JSON_SCHEMA_TARGET) {
    throw new InvalidEventError(
      `defineEvent(${quote(type)}) with a class converts to JSON Schema ${JSON_SCHEMA_TARGET} only, not ${options.target}`,
    );
  }
  let converter: JsonSchemaOfClasses;
  try {
    converter = load('class-validator-jsonschema') as JsonSchemaOfClasses;
  } catch (error) {
    throw new InvalidEventError(
      `The JSON Schema of a class-validator class needs class-validator-jsonschema: npm install class-validator-jsonschema`,
      { cause: error },
    );
  }
  const root = converter.targetConstructorToSchema(payloadClass) as JsonSchema;
  const known = converter.validationMetadatasToSchemas() as Record<string, JsonSchema>;
  const definitions: Record<string, JsonSchema> = {};
  const pending = referencedClasses(root);
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (Object.hasOwn(definitions, name)) continue;
    definitions[name] = known[name] ?? { type: 'object' };
    pending.push(...referencedClasses(definitions[name]));
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    ...root,
    ...(Object.keys(definitions).length > 0 ? { definitions } : {}),
  };
}

function issuesOf(errors: readonly ValidationError[], path: readonly PropertyKey[]): StandardSchemaV1.Issue[] {
  return errors.flatMap((error) => {
    const here = [...path, /^\d+$/.test(error.property) ? Number(error.property) : error.property];
    const own = Object.values(error.constraints ?? {}).map((message) => ({ message, path: here }));
    return [...own, ...issuesOf(error.children ?? [], here)];
  });
}

function isPayloadClass(value: unknown): value is PayloadClass {
  return typeof value === 'function' && typeof (value as { prototype?: unknown }).prototype === 'object';
}

/**
 * The Standard Schema of a class-validator class: the payload becomes an instance
 * (`plainToInstance`, so that `@Type` and nested classes apply), its decorators validate it. Its
 * JSON Schema (Standard JSON Schema) comes from the same decorators.
 */
export function classValidatorSchema<T extends object>(
  type: string,
  payloadClass: unknown,
): (StandardSchemaV1<PlainPayload<T>, T> & StandardJSONSchemaV1<PlainPayload<T>, T>) | undefined {
  if (!isPayloadClass(payloadClass)) return undefined;
  const { validator, transformer } = libraries(type);
  return {
    '~standard': {
      version: 1,
      vendor: 'class-validator',
      validate: async (value) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          return {
            issues: [{ message: `expected an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}` }],
          };
        }
        const instance = transformer.plainToInstance(payloadClass as new () => T, value) as T;
        const errors = await validator.validate(instance);
        return errors.length > 0 ? { issues: issuesOf(errors, []) } : { value: instance };
      },
      // A payload travels as the plain object of the instance: both sides have one schema.
      jsonSchema: {
        input: (options) => classJsonSchema(type, payloadClass, options),
        output: (options) => classJsonSchema(type, payloadClass, options),
      },
    },
  };
}
