import { createRequire } from 'node:module';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { ValidationError } from 'class-validator';
import { InvalidEventError } from './event-broker.errors.js';
import { quote } from './quote-input.js';

/** A class whose instances are payloads, validated by its class-validator decorators. */
export type PayloadClass<T extends object = object> = new (...args: never[]) => T;

/** The plain object a publisher gives for an instance of `T`: its properties, not its methods. */
export type PlainPayload<T extends object> = { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: T[K] };

type ClassValidator = Pick<typeof import('class-validator'), 'validate'>;
type ClassTransformer = Pick<typeof import('class-transformer'), 'plainToInstance'>;

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
 * (`plainToInstance`, so that `@Type` and nested classes apply), its decorators validate it.
 */
export function classValidatorSchema<T extends object>(
  type: string,
  payloadClass: unknown,
): StandardSchemaV1<PlainPayload<T>, T> | undefined {
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
    },
  };
}
