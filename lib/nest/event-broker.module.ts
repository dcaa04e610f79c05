import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import type { PublishInterceptor } from '../core/event-broker-options.interface.js';
import { EventBroker } from '../core/event-broker.js';
import { EventBrokerHealthIndicator } from '../observability/event-broker-health.indicator.js';
import { EventBrokerMetrics } from '../observability/event-broker-metrics.js';
import { tracePublish } from '../observability/publish-tracing.js';
import { EVENT_BROKER_OPTIONS } from './event-broker.constants.js';
import type { EventBrokerModuleAsyncOptions, EventBrokerModuleOptions } from './event-broker-module-options.interface.js';
import { EventPublisher } from './event-publisher.js';
import { EventRequestContextInterceptor } from './event-request-context.interceptor.js';
import { EventSubscribersLoader } from './event-subscribers.loader.js';
import { createTransport } from './event-transport.factory.js';
import { NestBrokerLogger } from './nest-broker-logger.js';

function createMetrics(options: EventBrokerModuleOptions): EventBrokerMetrics | null {
  if (!options.metrics) return null;
  return new EventBrokerMetrics(options.metrics === true ? {} : options.metrics);
}

async function createBroker(options: EventBrokerModuleOptions, metrics: EventBrokerMetrics | null): Promise<EventBroker> {
  const publishInterceptors: PublishInterceptor[] = [];
  if (options.tracing) publishInterceptors.push(tracePublish);
  if (metrics) publishInterceptors.push(metrics.countPublish);
  const transport = await createTransport(options);
  const broker = new EventBroker({ ...options, transport, logger: new NestBrokerLogger(), publishInterceptors });
  metrics?.track(broker);
  return broker;
}

/**
 * Registers the `EventBroker`, the `EventPublisher` and the discovery of `@OnEvent` handlers;
 * global unless `isGlobal: false`.
 */
@Module({})
export class EventBrokerModule {
  static forRoot(options: EventBrokerModuleOptions = {}): DynamicModule {
    return EventBrokerModule.create({ provide: EVENT_BROKER_OPTIONS, useValue: options }, [], options.isGlobal);
  }

  static forRootAsync(options: EventBrokerModuleAsyncOptions): DynamicModule {
    return EventBrokerModule.create(
      { provide: EVENT_BROKER_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
      options.imports ?? [],
      options.isGlobal,
    );
  }

  private static create(optionsProvider: Provider, imports: DynamicModule['imports'], isGlobal = true): DynamicModule {
    return {
      module: EventBrokerModule,
      global: isGlobal,
      imports: [DiscoveryModule, ...(imports ?? [])],
      providers: [
        optionsProvider,
        { provide: EventBrokerMetrics, useFactory: createMetrics, inject: [EVENT_BROKER_OPTIONS] },
        { provide: EventBroker, useFactory: createBroker, inject: [EVENT_BROKER_OPTIONS, EventBrokerMetrics] },
        EventPublisher,
        EventBrokerHealthIndicator,
        EventSubscribersLoader,
        { provide: APP_INTERCEPTOR, useClass: EventRequestContextInterceptor },
      ],
      exports: [EventBroker, EventPublisher, EventBrokerMetrics, EventBrokerHealthIndicator],
    };
  }
}
