/** Injection token of the resolved `EventBrokerModuleOptions`. */
export const EVENT_BROKER_OPTIONS = Symbol('EVENT_BROKER_OPTIONS');

/** The `ExecutionContext.getType()` of an event handler run by the broker. */
export const EVENT_CONTEXT_TYPE = 'event';

export const ON_EVENT_METADATA = 'nestjs-event-broker:on-event';
export const EMITS_EVENT_METADATA = 'nestjs-event-broker:emits-event';
/** The event types an `@EmitsEvent` method publishes, on the method. */
export const EMITTED_EVENTS_METADATA = 'nestjs-event-broker:emitted-events';
/** Parameter metadata that lets pipes see the event handed to a handler. */
export const EVENT_ARGS_METADATA = 'nestjs-event-broker:event-args';
