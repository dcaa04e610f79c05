import type { EventTransport } from '../core/event-transport.interface.js';
import type { NamedTransportOptions, TransportName } from '../transports/named-transports.js';
import type { NatsTransportOptions } from '../transports/nats/nats-transport-options.interface.js';
import { natsServerUrls } from '../transports/nats/nats-servers.js';
import type { PostgresTransportOptions } from '../transports/postgres/postgres-transport-options.interface.js';
import type { RedisTransportOptions } from '../transports/redis/redis-transport-options.interface.js';
import type { Redis } from 'ioredis';
import type { AsyncApiServer } from './asyncapi-document.interface.js';

/** The module options that say which transport carries the events, and where its server is. */
export interface TransportSelection extends NamedTransportOptions {
  transport?: TransportName | EventTransport;
}

/** `host[:port]` of a URL, without its user and password (the document may be public). */
function hostOf(url: string, scheme: string): { host: string; pathname?: string } {
  try {
    const parsed = new URL(url.includes('://') ? url : `${scheme}://${url}`);
    const pathname = parsed.pathname.length > 1 ? parsed.pathname : undefined;
    return { host: parsed.host, ...(pathname ? { pathname } : {}) };
  } catch {
    return { host: 'unknown' };
  }
}

function redisServers(options: RedisTransportOptions = {}): Record<string, AsyncApiServer> {
  const client = options.client && !options.client.isCluster ? (options.client as Redis).options : undefined;
  const node = options.cluster?.nodes[0];
  const where = options.url
    ? hostOf(options.url, 'redis')
    : { host: `${node?.host ?? client?.host ?? options.host ?? '127.0.0.1'}:${node?.port ?? client?.port ?? options.port ?? 6379}` };
  const prefix = options.keyPrefix ?? 'eb';
  const partitions = options.partitions ?? 1;
  const streams =
    partitions === 1
      ? `of the stream ${prefix}:stream`
      : `of one of the ${partitions} partition streams ${prefix}:{${prefix}:<n>}:stream (n from 0), by its key`;
  return {
    redis: {
      ...where,
      protocol: 'redis',
      title: 'Redis Streams',
      description: `Every event is an entry ${streams}; each group of a receive operation is a consumer group of it.`,
    },
  };
}

function natsServers(options: NatsTransportOptions = {}): Record<string, AsyncApiServer> {
  const urls = options.connection ? [options.connection.getServer()] : natsServerUrls(options.servers);
  const stream = options.stream ?? 'EVENTS';
  const subjects = options.subjectLayout === 'type' ? 'the event type' : `${options.subjectPrefix ?? 'events'}.<source>.<type>`;
  return Object.fromEntries(
    urls.map((url, index) => [
      index === 0 ? 'nats' : `nats-${index + 1}`,
      {
        host: hostOf(url, 'nats').host,
        protocol: 'nats',
        title: 'NATS JetStream',
        description: `Every event is a message of the stream ${stream} on the subject ${subjects}; each group of a receive operation is a durable consumer of it.`,
      },
    ]),
  );
}

function postgresServers(options: PostgresTransportOptions = {}): Record<string, AsyncApiServer> {
  const pool = options.client?.options ?? options.pool ?? {};
  const connectionString = options.connectionString ?? pool.connectionString;
  const where = connectionString
    ? hostOf(connectionString, 'postgres')
    : { host: `${pool.host ?? process.env.PGHOST ?? 'localhost'}:${pool.port ?? process.env.PGPORT ?? 5432}` };
  const database = connectionString ? undefined : (pool.database ?? process.env.PGDATABASE);
  const schema = options.schema ?? 'event_broker';
  return {
    postgres: {
      ...where,
      ...(database ? { pathname: `/${database}` } : {}),
      protocol: 'postgres',
      title: 'PostgreSQL',
      description: `Every event is a row of ${schema}.events; each group of a receive operation has a row per event in ${schema}.deliveries.`,
    },
  };
}

/**
 * The servers of the transport a module's options select. The protocol is the transport's name
 * (`redis` and `nats` are also AsyncAPI's names for them; AsyncAPI has none for PostgreSQL). The
 * memory transport has no server, and a transport given as an instance says nothing of where its
 * server is: both have none (the `servers` option describes them).
 */
export function transportServers(selection: TransportSelection): Record<string, AsyncApiServer> {
  switch (selection.transport ?? 'memory') {
    case 'redis':
      return redisServers(selection.redis);
    case 'nats':
      return natsServers(selection.nats);
    case 'postgres':
      return postgresServers(selection.postgres);
    default:
      return {};
  }
}

/** The name of the transport: its option, or the instance's `type`. */
export function transportName(selection: TransportSelection): string {
  const { transport = 'memory' } = selection;
  return typeof transport === 'string' ? transport : transport.type;
}
