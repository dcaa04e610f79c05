import { EventBrokerError } from './event-broker.errors.js';
import { assertKnownOptions, type OptionNames } from './known-options.js';
import { quote } from './quote-input.js';

/**
 * `defaults` overridden by the options `given` that are set (an explicit `undefined` keeps the
 * default); `given` may hold only the options in `names`; an option whose default is a number must
 * be a positive integer. Errors name `owner` and the option.
 */
export function resolveOptions<T extends object, Given>(
  owner: string,
  defaults: T,
  given: Given | undefined,
  names: OptionNames<Given>,
): T {
  assertKnownOptions(owner, given, names);
  const resolved: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [name, value] of Object.entries(given ?? {})) {
    if (value !== undefined && name in defaults) resolved[name] = value;
  }
  for (const [name, fallback] of Object.entries(defaults)) {
    const value = resolved[name];
    if (typeof fallback === 'number' && (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)) {
      throw new EventBrokerError(`${owner} option ${name} must be a positive integer, got ${quote(value)}`);
    }
  }
  return resolved as T;
}
