import type { EventBroker } from '../core/event-broker.js';
import type { EventBrokerFactoryOptions } from '../nest/event-broker.factory.js';

/**
 * How `EventBrokerStrategy` and `EventBrokerClient` reach the broker: the options of
 * `EventBrokerModule.forRoot` that make one (transport, retry, tracing, metrics, …), or an
 * existing `broker` (the app's own, say), which its owner starts and stops.
 */
export interface EventBrokerMicroserviceOptions extends EventBrokerFactoryOptions {
  broker?: EventBroker;
}
