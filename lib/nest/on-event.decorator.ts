import type { BrokerEvent } from '../core/broker-event.interface.js';
import { isEventContract } from '../core/define-event.js';
import type { EventContract, EventPayload, EventSelector } from '../core/event-contract.interface.js';
import { assertKnownOptions, type OptionNames } from '../core/known-options.js';
import type { SubscribeOptions } from '../core/subscription.interface.js';
import { EVENT_ARGS_METADATA, ON_EVENT_METADATA } from './event-broker.constants.js';
import { EVENT_PARAM } from './event-params.factory.js';

export type OnEventOptions = SubscribeOptions;

const ON_EVENT_OPTION_NAMES: OptionNames<OnEventOptions> = {
  group: true,
  retry: true,
  concurrency: true,
  fromBeginning: true,
  ordered: true,
};

/** What one `@OnEvent` decorator asked for. */
export interface OnEventMetadata {
  /** Patterns, and contracts standing for their type. */
  selectors: EventSelector[];
  options: OnEventOptions;
}

/** Every `@OnEvent` of `method`, top one first. */
export function onEventMetadata(method: object): readonly OnEventMetadata[] {
  return (Reflect.getMetadata(ON_EVENT_METADATA, method) as OnEventMetadata[] | undefined) ?? [];
}

/**
 * The decorator of `@OnEvent(contract)`: the method must take the event of its contracts, so that a
 * handler that expects another payload does not compile.
 */
export type ContractHandlerDecorator<TPayload> = <M extends (event: BrokerEvent<TPayload>, ...rest: never[]) => unknown>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void;

/**
 * Runs the method for every event whose type matches `pattern` (or one of them): `*` stands for
 * one segment, a trailing `**` for one or more. The method receives the `BrokerEvent`.
 * With a contract (or several) instead, the method runs for the contract's type, its parameter is
 * typed by the contract's schema, and a payload the schema rejects is dead-lettered without calling it.
 * The default group is `<serviceName>.<ClassName>.<method>`. Several `@OnEvent` on one method all
 * apply: those that share a group (the default one, say) are one subscription to all their
 * patterns and must agree on their other options; one with a group of its own is a subscription of its own.
 */
export function OnEvent<C extends EventContract>(
  contract: C | readonly C[],
  options?: OnEventOptions,
): ContractHandlerDecorator<EventPayload<C>>;
export function OnEvent(pattern: string | readonly string[], options?: OnEventOptions): MethodDecorator;
export function OnEvent(selectors: readonly EventSelector[], options?: OnEventOptions): MethodDecorator;
export function OnEvent(selector: EventSelector | readonly EventSelector[], options: OnEventOptions = {}): MethodDecorator {
  const selectors = typeof selector === 'string' || isEventContract(selector) ? [selector] : [...selector];
  const metadata: OnEventMetadata = { selectors, options };
  return (target, key, descriptor) => {
    assertKnownOptions(`@OnEvent on ${target.constructor.name}.${String(key)}`, options, ON_EVENT_OPTION_NAMES);
    Reflect.defineMetadata(
      EVENT_ARGS_METADATA,
      { [`${EVENT_PARAM}:0`]: { index: 0, data: undefined, pipes: [] } },
      target.constructor,
      key,
    );
    // Decorators apply bottom up: this one goes before those applied already.
    Reflect.defineMetadata(ON_EVENT_METADATA, [metadata, ...onEventMetadata(descriptor.value as object)], descriptor.value as object);
    return descriptor;
  };
}
