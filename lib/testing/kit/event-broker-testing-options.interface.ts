import { withoutOptions, type OptionNames } from '../../core/known-options.js';
import { MODULE_OPTION_NAMES } from '../../nest/event-broker-option-names.js';
import type { EventBrokerModuleOptions } from '../../nest/event-broker-module-options.interface.js';

/**
 * The module options of a test app: those of `EventBrokerModule.forRoot`, on a memory transport of
 * its own (`memory` takes its options), with retries a few milliseconds apart unless `retry` says
 * otherwise.
 */
export interface EventBrokerTestingOptions extends Omit<
  EventBrokerModuleOptions,
  'transport' | 'outbox' | 'redis' | 'nats' | 'postgres' | 'isGlobal'
> {
  /** How long `waitFor`, `waitForType` and `drain` of `TestEvents` wait by default (default 2000 ms). */
  waitTimeoutMs?: number;
}

export const TESTING_OPTION_NAMES: OptionNames<EventBrokerTestingOptions> = {
  ...withoutOptions(MODULE_OPTION_NAMES, 'transport', 'outbox', 'redis', 'nats', 'postgres', 'isGlobal'),
  waitTimeoutMs: true,
};
