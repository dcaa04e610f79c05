import type { AsyncApiOptions } from '../asyncapi/asyncapi-options.interface.js';
import { BROKER_OPTION_NAMES } from '../core/event-broker.js';
import { EventBrokerError } from '../core/event-broker.errors.js';
import { assertKnownOptions, withoutOptions, type OptionNames } from '../core/known-options.js';
import { quote } from '../core/quote-input.js';
import { TRANSPORT_OPTION_NAMES } from '../transports/named-transports.js';
import type { EventBrokerMetricsOptions } from '../observability/event-broker-metrics.js';
import type { EventBrokerFactoryOptions } from './event-broker.factory.js';
import type {
  EventBrokerModuleAsyncOptions,
  EventBrokerModuleOptions,
  RequestContextOptions,
} from './event-broker-module-options.interface.js';

/** The options that make a broker: those of the module that the microservices bridge takes too. */
export const FACTORY_OPTION_NAMES: OptionNames<EventBrokerFactoryOptions> = {
  ...withoutOptions(BROKER_OPTION_NAMES, 'logger', 'publishInterceptors'),
  ...TRANSPORT_OPTION_NAMES,
  outbox: true,
  tracing: true,
  metrics: true,
};

export const MODULE_OPTION_NAMES: OptionNames<EventBrokerModuleOptions> = {
  ...FACTORY_OPTION_NAMES,
  interceptors: true,
  applyGlobalEnhancers: true,
  requestContext: true,
  isGlobal: true,
  asyncapi: true,
};

export const MODULE_ASYNC_OPTION_NAMES: OptionNames<EventBrokerModuleAsyncOptions> = {
  imports: true,
  useFactory: true,
  inject: true,
  isGlobal: true,
};

const METRICS_OPTION_NAMES: OptionNames<EventBrokerMetricsOptions> = { registry: true, buckets: true };

const REQUEST_CONTEXT_OPTION_NAMES: OptionNames<RequestContextOptions> = { userId: true, sessionId: true };

const ASYNCAPI_OPTION_NAMES: OptionNames<AsyncApiOptions> = { path: true, title: true, version: true, description: true, servers: true };

function assertAsyncApiOptions(options: AsyncApiOptions | undefined): void {
  assertKnownOptions('EventBrokerModule asyncapi', options, ASYNCAPI_OPTION_NAMES);
  const path: unknown = options?.path;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/')))
    throw new EventBrokerError(`EventBrokerModule asyncapi path must be a string that starts with /, got ${quote(path)}`);
}

/**
 * Refuses an unknown option of the module, or of its own nested options (`metrics`,
 * `requestContext`, `asyncapi`); the transports check theirs when they are built.
 */
export function assertModuleOptions(options: EventBrokerModuleOptions): void {
  assertKnownOptions('EventBrokerModule', options, MODULE_OPTION_NAMES);
  if (typeof options.metrics === 'object') assertKnownOptions('EventBrokerModule metrics', options.metrics, METRICS_OPTION_NAMES);
  if (typeof options.requestContext === 'object')
    assertKnownOptions('EventBrokerModule requestContext', options.requestContext, REQUEST_CONTEXT_OPTION_NAMES);
  assertAsyncApiOptions(options.asyncapi);
}
