import type { InjectionToken, ModuleMetadata, NestInterceptor, OptionalFactoryDependency, Type } from '@nestjs/common';
import type { EventBrokerOptions } from '../core/event-broker-options.interface.js';
import type { EventBrokerMetricsOptions } from '../observability/event-broker-metrics.js';
import type { EventTransport } from '../core/event-transport.interface.js';
import type { MemoryTransportOptions } from '../transports/memory/memory-transport-options.interface.js';
import type { OutboxOptions } from '../transports/outbox/outbox-options.interface.js';
import type { NatsTransportOptions } from '../transports/nats/nats-transport-options.interface.js';
import type { PostgresTransportOptions } from '../transports/postgres/postgres-transport-options.interface.js';
import type { RedisTransportOptions } from '../transports/redis/redis-transport-options.interface.js';

/** The parts of an HTTP request the default context extractors read. */
export interface HttpRequestLike {
  headers?: Record<string, string | string[] | undefined>;
  user?: { id?: string | number; [key: string]: unknown };
  sessionID?: string;
  [key: string]: unknown;
}

/** How the user and session of an HTTP request are found. */
export interface RequestContextOptions {
  /** Default: `request.user.id`, else the `x-user-id` header. */
  userId?: (request: HttpRequestLike) => string | number | undefined;
  /** Default: `request.sessionID`, else the `x-session-id` header. */
  sessionId?: (request: HttpRequestLike) => string | undefined;
}

export type TransportName = 'memory' | 'redis' | 'nats' | 'postgres';

export interface EventBrokerModuleOptions extends Omit<EventBrokerOptions, 'transport' | 'logger' | 'publishInterceptors'> {
  /** A transport by name, or an instance (default `'memory'`). */
  transport?: TransportName | EventTransport;
  /** Options of the memory transport, when `transport` is `'memory'`. */
  memory?: MemoryTransportOptions;
  /** Options of the Redis transport, when `transport` is `'redis'`. */
  redis?: RedisTransportOptions;
  /** Options of the NATS JetStream transport, when `transport` is `'nats'`. */
  nats?: NatsTransportOptions;
  /** Options of the PostgreSQL transport, when `transport` is `'postgres'`. */
  postgres?: PostgresTransportOptions;
  /**
   * The transactional outbox for a transport outside the app's database (Redis, NATS): where the
   * `outbox` table is. Publishes with `tx` then go through it.
   */
  outbox?: OutboxOptions;
  /** Interceptors run around every event handler, before its own (classes are resolved by DI). */
  interceptors?: (Type<NestInterceptor> | NestInterceptor)[];
  /** Also run the app's global guards, interceptors, pipes and filters on event handlers (default false). */
  applyGlobalEnhancers?: boolean;
  /** How HTTP requests give events their `userId` and `sessionId`; `false` turns it off. */
  requestContext?: RequestContextOptions | false;
  /** Register the module globally (default true). */
  isGlobal?: boolean;
  /** OpenTelemetry spans for every publish and handler call (a no-op until the app registers an SDK). */
  tracing?: boolean;
  /** Prometheus metrics (prom-client) in the default registry, or in the one given. */
  metrics?: boolean | EventBrokerMetricsOptions;
}

export interface EventBrokerModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => EventBrokerModuleOptions | Promise<EventBrokerModuleOptions>;
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** Register the module globally (default true). */
  isGlobal?: boolean;
}
