/**
 * The transport id of `EventBrokerStrategy`: `@EventPattern('a.b.c', EVENT_BROKER_TRANSPORT)`
 * binds a handler to this server only, in an app that listens on several. A registered symbol, so
 * that two copies of the package in one app agree on it.
 */
export const EVENT_BROKER_TRANSPORT: unique symbol = Symbol.for('nestjs-event-broker/transport');
