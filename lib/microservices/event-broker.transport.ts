/**
 * The transport id of `EventBrokerStrategy`: `@EventPattern('a.b.c', EVENT_BROKER_TRANSPORT)`
 * binds a handler to this server only, in an app that listens on several.
 */
export const EVENT_BROKER_TRANSPORT: unique symbol = Symbol('EVENT_BROKER_TRANSPORT');
