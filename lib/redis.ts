// nestjs-event-broker/redis: the Redis Streams transport, loaded only by apps that use it.
export { RedisTransport, type RedisTransportStats } from './transports/redis/redis-transport.js';
