import type { AsyncApiOptions } from '../asyncapi/asyncapi-options.interface.js';
import type { InjectionToken, ModuleMetadata, NestInterceptor, OptionalFactoryDependency, Type } from '@nestjs/common';
import type { EventBrokerOptions } from '../core/event-broker-options.interface.js';
import type { EventBrokerMetricsOptions } from '../observability/event-broker-metrics.js';
import type { EventTransport } from '../core/event-transport.interface.js';
import type { NamedTransportOptions, TransportName } from '../transports/named-transports.js';
import type { OutboxOptions } from '../transports/outbox/outbox-options.interface.js';

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

export interface EventBrokerModuleOptions
  extends Omit<EventBrokerOptions, 'transport' | 'logger' | 'publishInterceptors'>, NamedTransportOptions {
  /**
   * A transport by name, or an instance (default `'memory'`). A named transport takes its options
   * from the option of the same name: `redis: { url }` for `'redis'`.
   */
  transport?: TransportName | EventTransport;
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
  /** The AsyncAPI document of the app's events: served at `path`, and its `info` and `servers`. */
  asyncapi?: AsyncApiOptions;
}

export interface EventBrokerModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => EventBrokerModuleOptions | Promise<EventBrokerModuleOptions>;
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** Register the module globally (default true). */
  isGlobal?: boolean;
}

export type { TransportName };
