import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { EventBroker } from '../core/event-broker.js';
import { EventBrokerHealthIndicator } from '../observability/event-broker-health.indicator.js';
import { EventBrokerMetrics } from '../observability/event-broker-metrics.js';
import { assertKnownOptions } from '../core/known-options.js';
import { EVENT_BROKER_OPTIONS } from './event-broker.constants.js';
import { assertModuleOptions, MODULE_ASYNC_OPTION_NAMES } from './event-broker-option-names.js';
import type { EventBrokerModuleAsyncOptions, EventBrokerModuleOptions } from './event-broker-module-options.interface.js';
import { EventPublisher } from './event-publisher.js';
import { EventRequestContextInterceptor } from './event-request-context.interceptor.js';
import { EventSubscribersLoader } from './event-subscribers.loader.js';
import { AsyncApiDocumentFactory } from './asyncapi-document.factory.js';
import { AsyncApiRoute } from './asyncapi.route.js';
import { createBroker, createMetrics } from './event-broker.factory.js';

/**
 * Registers the `EventBroker`, the `EventPublisher` and the discovery of `@OnEvent` handlers;
 * global unless `isGlobal: false`.
 */
@Module({})
export class EventBrokerModule {
  static forRoot(options: EventBrokerModuleOptions = {}): DynamicModule {
    assertModuleOptions(options);
    return EventBrokerModule.create({ provide: EVENT_BROKER_OPTIONS, useValue: options }, [], options.isGlobal);
  }

  static forRootAsync(options: EventBrokerModuleAsyncOptions): DynamicModule {
    assertKnownOptions('EventBrokerModule.forRootAsync', options, MODULE_ASYNC_OPTION_NAMES);
    const useFactory = async (...args: never[]): Promise<EventBrokerModuleOptions> => {
      const resolved = await options.useFactory(...args);
      assertModuleOptions(resolved);
      return resolved;
    };
    return EventBrokerModule.create(
      { provide: EVENT_BROKER_OPTIONS, useFactory, inject: options.inject ?? [] },
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
        AsyncApiDocumentFactory,
        AsyncApiRoute,
        { provide: APP_INTERCEPTOR, useClass: EventRequestContextInterceptor },
      ],
      exports: [EventBroker, EventPublisher, EventBrokerMetrics, EventBrokerHealthIndicator, AsyncApiDocumentFactory],
    };
  }
}
