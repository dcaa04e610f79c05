// nestjs-event-broker/microservices: the bridge for `@nestjs/microservices` apps (an optional peer dependency).
export { EventBrokerClient } from './microservices/event-broker.client.js';
export { EventBrokerContext } from './microservices/event-broker.context.js';
export type { EventBrokerMicroserviceOptions } from './microservices/event-broker-microservice-options.interface.js';
export { EventBrokerRecord, type EventBrokerRecordOptions } from './microservices/event-broker.record.js';
export { EventBrokerStrategy } from './microservices/event-broker.strategy.js';
export { EVENT_BROKER_TRANSPORT } from './microservices/event-broker.transport.js';
