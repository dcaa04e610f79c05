import type { PublishInterceptor } from '../core/event-broker-options.interface.js';
import { EventBroker } from '../core/event-broker.js';
import { EventBrokerMetrics } from '../observability/event-broker-metrics.js';
import { tracePublish } from '../observability/publish-tracing.js';
import type { EventBrokerModuleOptions } from './event-broker-module-options.interface.js';
import { createTransport } from './event-transport.factory.js';
import { NestBrokerLogger } from './nest-broker-logger.js';

/** The options that make a broker, shared by the module and the microservices bridge. */
export type EventBrokerFactoryOptions = Omit<
  EventBrokerModuleOptions,
  'interceptors' | 'applyGlobalEnhancers' | 'requestContext' | 'isGlobal' | 'asyncapi'
>;

export function createMetrics(options: EventBrokerFactoryOptions): EventBrokerMetrics | null {
  if (!options.metrics) return null;
  return new EventBrokerMetrics(options.metrics === true ? {} : options.metrics);
}

/** A broker on the transport the options name, with publish tracing and metrics when asked; not started. */
export async function createBroker(options: EventBrokerFactoryOptions, metrics: EventBrokerMetrics | null): Promise<EventBroker> {
  const publishInterceptors: PublishInterceptor[] = [];
  if (options.tracing) publishInterceptors.push(tracePublish);
  if (metrics) publishInterceptors.push(metrics.countPublish);
  const transport = await createTransport(options);
  const broker = new EventBroker({
    transport,
    instanceId: options.instanceId,
    serviceName: options.serviceName,
    mode: options.mode,
    workerCount: options.workerCount,
    bufferSize: options.bufferSize,
    retry: options.retry,
    maxPayloadBytes: options.maxPayloadBytes,
    shutdownTimeoutMs: options.shutdownTimeoutMs,
    logger: new NestBrokerLogger(),
    publishInterceptors,
  });
  metrics?.track(broker);
  return broker;
}
