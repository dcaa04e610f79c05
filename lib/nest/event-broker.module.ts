import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { EventBroker } from '../core/event-broker.js';
import { EVENT_BROKER_OPTIONS } from './event-broker.constants.js';
import type { EventBrokerModuleAsyncOptions, EventBrokerModuleOptions } from './event-broker-module-options.interface.js';
import { EventPublisher } from './event-publisher.js';
import { EventRequestContextInterceptor } from './event-request-context.interceptor.js';
import { EventSubscribersLoader } from './event-subscribers.loader.js';
import { createTransport } from './event-transport.factory.js';
import { NestBrokerLogger } from './nest-broker-logger.js';

function createBroker(options: EventBrokerModuleOptions): EventBroker {
  return new EventBroker({ ...options, transport: createTransport(options), logger: new NestBrokerLogger() });
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
        { provide: EventBroker, useFactory: createBroker, inject: [EVENT_BROKER_OPTIONS] },
        EventPublisher,
        EventSubscribersLoader,
        { provide: APP_INTERCEPTOR, useClass: EventRequestContextInterceptor },
      ],
      exports: [EventBroker, EventPublisher],
    };
  }
}
