import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { BrokerEvent } from './broker-event.interface.js';
import type { CreateEventInput } from './create-event.js';

/**
 * An event type and the schema of its payload, made by `defineEvent`. Publishing with it checks
 * the payload; subscribing with it types the handler and checks every delivered payload.
 */
export interface EventContract<TType extends string = string, TSchema extends StandardSchemaV1 = StandardSchemaV1> {
  readonly type: TType;
  /** Any Standard Schema (zod, valibot, arktype, …): it carries the payload's type. */
  readonly schema: TSchema;
}

/** What a handler of the contract receives as `event.payload`: the schema's output. */
export type EventPayload<C extends EventContract> = StandardSchemaV1.InferOutput<C['schema']>;

/** What a publisher of the contract gives as the payload: the schema's input. */
export type EventPayloadInput<C extends EventContract> = StandardSchemaV1.InferInput<C['schema']>;

/** The event a handler of the contract receives: `handle(event: EventOf<typeof UserCreated>)`. */
export type EventOf<C extends EventContract> = BrokerEvent<EventPayload<C>>;

/** What a subscription names: a pattern, or a contract (its type, with its payload checked). */
export type EventSelector = string | EventContract;

/** An event to publish under a contract: the contract stands in for the type. */
export interface ContractEventInput<C extends EventContract> extends Omit<CreateEventInput<EventPayloadInput<C>>, 'type'> {
  type: C;
}

/** An event to publish, by type or by contract. */
export interface AnyEventInput<T = unknown> extends Omit<CreateEventInput<T>, 'type'> {
  type: string | EventContract;
}
