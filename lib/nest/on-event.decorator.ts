import { assertKnownOptions, type OptionNames } from '../core/known-options.js';
import type { SubscribeOptions } from '../core/subscription.interface.js';
import { EVENT_ARGS_METADATA, ON_EVENT_METADATA } from './event-broker.constants.js';
import { EVENT_PARAM } from './event-params.factory.js';

export type OnEventOptions = SubscribeOptions;

const ON_EVENT_OPTION_NAMES: OptionNames<OnEventOptions> = { group: true, retry: true, concurrency: true, fromBeginning: true };

/** What one `@OnEvent` decorator asked for. */
export interface OnEventMetadata {
  patterns: string[];
  options: OnEventOptions;
}

/** Every `@OnEvent` of `method`, top one first. */
export function onEventMetadata(method: object): readonly OnEventMetadata[] {
  return (Reflect.getMetadata(ON_EVENT_METADATA, method) as OnEventMetadata[] | undefined) ?? [];
}

/**
 * Runs the method for every event whose type matches `pattern` (or one of them): `*` stands for
 * one segment, a trailing `**` for one or more. The method receives the `BrokerEvent`.
 * The default group is `<serviceName>.<ClassName>.<method>`. Several `@OnEvent` on one method all
 * apply: those that share a group (the default one, say) are one subscription to all their
 * patterns and must agree on their other options; one with a group of its own is a subscription of its own.
 */
export function OnEvent(pattern: string | string[], options: OnEventOptions = {}): MethodDecorator {
  const metadata: OnEventMetadata = { patterns: typeof pattern === 'string' ? [pattern] : [...pattern], options };
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
