import type { OptionNames } from '../core/known-options.js';
import type { EventTransport } from '../core/event-transport.interface.js';
import type { MemoryTransportOptions } from './memory/memory-transport-options.interface.js';
import type { NatsTransportOptions } from './nats/nats-transport-options.interface.js';
import type { PostgresTransportOptions } from './postgres/postgres-transport-options.interface.js';
import type { RedisTransportOptions } from './redis/redis-transport-options.interface.js';

/**
 * The transports that `transport: '<name>'` selects, each made from the module option of the same
 * name. A transport's module (and its client library) is loaded only when it is selected.
 */
export const NAMED_TRANSPORTS = {
  memory: async (options?: MemoryTransportOptions): Promise<EventTransport> =>
    new (await import('./memory/memory-transport.js')).MemoryTransport(options),
  redis: async (options?: RedisTransportOptions): Promise<EventTransport> =>
    new (await import('./redis/redis-transport.js')).RedisTransport(options),
  nats: async (options?: NatsTransportOptions): Promise<EventTransport> =>
    new (await import('./nats/nats-transport.js')).NatsTransport(options),
  postgres: async (options?: PostgresTransportOptions): Promise<EventTransport> =>
    new (await import('./postgres/postgres-transport.js')).PostgresTransport(options),
};

export type TransportName = keyof typeof NAMED_TRANSPORTS;

/** The options of every named transport, each under its name. */
export type NamedTransportOptions = { [Name in TransportName]?: Parameters<(typeof NAMED_TRANSPORTS)[Name]>[0] };

export const TRANSPORT_NAMES = Object.keys(NAMED_TRANSPORTS) as TransportName[];

/** The module options that hold a named transport's options. */
export const TRANSPORT_OPTION_NAMES = Object.fromEntries(TRANSPORT_NAMES.map((name) => [name, true])) as OptionNames<NamedTransportOptions>;
