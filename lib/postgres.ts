// nestjs-event-broker/postgres: the PostgreSQL transport and the transactional outbox, loaded
// only by apps that use them.
export { OutboxTransport } from './transports/outbox/outbox-transport.js';
export { PostgresTransport } from './transports/postgres/postgres-transport.js';
