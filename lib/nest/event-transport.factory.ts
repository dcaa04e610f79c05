import { EventBrokerError } from '../core/event-broker.errors.js';
import type { EventTransport } from '../transports/event-transport.interface.js';
import { MemoryTransport } from '../transports/memory/memory-transport.js';
import { NatsTransport } from '../transports/nats/nats-transport.js';
import { OutboxTransport } from '../transports/outbox/outbox-transport.js';
import { PostgresTransport } from '../transports/postgres/postgres-transport.js';
import { RedisTransport } from '../transports/redis/redis-transport.js';
import type { EventBrokerModuleOptions } from './event-broker-module-options.interface.js';

/** The transport the module options name, or the instance they give, behind the outbox if asked. */
export function createTransport(options: EventBrokerModuleOptions): EventTransport {
  const transport = namedTransport(options);
  return options.outbox && !transport.transactional ? new OutboxTransport(transport, options.outbox) : transport;
}

function namedTransport(options: EventBrokerModuleOptions): EventTransport {
  const transport = options.transport ?? 'memory';
  if (typeof transport !== 'string') return transport;
  if (transport === 'memory') return new MemoryTransport(options.memory);
  if (transport === 'redis') return new RedisTransport(options.redis);
  if (transport === 'nats') return new NatsTransport(options.nats);
  if (transport === 'postgres') return new PostgresTransport(options.postgres);
  throw new EventBrokerError(
    `Unknown transport "${String(transport)}": use 'memory', 'redis', 'nats', 'postgres' or pass an EventTransport instance`,
  );
}
