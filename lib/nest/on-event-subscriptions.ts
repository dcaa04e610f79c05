import { EventBrokerError } from '../core/event-broker.errors.js';
import type { EventSelector } from '../core/event-contract.interface.js';
import type { SubscribeOptions } from '../core/subscription.interface.js';
import type { OnEventMetadata } from './on-event.decorator.js';

/** One subscription of an `@OnEvent` method: the patterns and contracts of every decorator with this group. */
export interface OnEventSubscription {
  selectors: EventSelector[];
  options: SubscribeOptions & { group: string };
}

/** The group of an `@OnEvent` method that names none: `<serviceName>.<ClassName>.<method>`. */
export function defaultHandlerGroup(serviceName: string, className: string, method: string): string {
  return `${serviceName}.${className}.${method}`;
}

/** `value` as JSON with sorted keys and without undefined members, so that equal options compare equal. */
function canonical(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, member]) => member !== undefined)
    .toSorted(([a], [b]) => a.localeCompare(b));
  return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonical(member)}`).join(',')}}`;
}

function optionsBesideGroup({ group: _group, ...options }: SubscribeOptions): string {
  return canonical(options);
}

/**
 * The subscriptions of a method's `@OnEvent` decorators: those with the same group (`defaultGroup`
 * when they name none) become one, to all their patterns; they must agree on their other options.
 */
export function onEventSubscriptions(decorators: readonly OnEventMetadata[], defaultGroup: string, where: string): OnEventSubscription[] {
  const byGroup = new Map<string, OnEventSubscription>();
  for (const { selectors, options } of decorators) {
    const group = options.group ?? defaultGroup;
    const existing = byGroup.get(group);
    if (!existing) {
      byGroup.set(group, { selectors: [...selectors], options: { ...options, group } });
      continue;
    }
    if (optionsBesideGroup(existing.options) !== optionsBesideGroup(options)) {
      throw new EventBrokerError(
        `${where}: two @OnEvent decorators share the group ${group} with different options (retry, concurrency, fromBeginning, ordered): give them the same options, or each its own group`,
      );
    }
    existing.selectors.push(...selectors.filter((selector) => !existing.selectors.includes(selector)));
  }
  return [...byGroup.values()];
}
