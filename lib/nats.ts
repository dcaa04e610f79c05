// nestjs-event-broker/nats: the NATS JetStream transport, loaded only by apps that use it.
export { NatsTransport } from './transports/nats/nats-transport.js';
