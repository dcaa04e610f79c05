import { EventBrokerError } from '../core/event-broker.errors.js';
import type { EventTransport } from '../core/event-transport.interface.js';
import { MemoryTransport } from '../transports/memory/memory-transport.js';
import type { EventBrokerModuleOptions } from './event-broker-module-options.interface.js';

/**
 * The transport the module options name, or the instance they give, behind the outbox if asked.
 * A transport's client library (ioredis, nats, pg) is loaded only when that transport is used.
 */
export async function createTransport(options: EventBrokerModuleOptions): Promise<EventTransport> {
  const transport = await namedTransport(options);
  if (!options.outbox || transport.transactional) return transport;
  const { OutboxTransport } = await import('../transports/outbox/outbox-transport.js');
  return new OutboxTransport(transport, options.outbox);
}

async function namedTransport(options: EventBrokerModuleOptions): Promise<EventTransport> {
  const transport = options.transport ?? 'memory';
  if (typeof transport !== 'string') return transport;
  switch (transport) {
    case 'memory':
      return new MemoryTransport(options.memory);
    case 'redis':
      return new (await import('../transports/redis/redis-transport.js')).RedisTransport(options.redis);
    case 'nats':
      return new (await import('../transports/nats/nats-transport.js')).NatsTransport(options.nats);
    case 'postgres':
      return new (await import('../transports/postgres/postgres-transport.js')).PostgresTransport(options.postgres);
    default:
      throw new EventBrokerError(
        `Unknown transport "${String(transport)}": use 'memory', 'redis', 'nats', 'postgres' or pass an EventTransport instance`,
      );
  }
}
