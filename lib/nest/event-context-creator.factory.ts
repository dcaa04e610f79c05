import type { ArgumentsHost, NestInterceptor, Type } from '@nestjs/common';
import { ApplicationConfig, ExternalContextCreator, ModuleRef, type NestContainer } from '@nestjs/core';
import { ExternalExceptionFilterContext } from '@nestjs/core/exceptions/external-exception-filter-context.js';
import { ExternalExceptionsHandler } from '@nestjs/core/exceptions/external-exceptions-handler.js';
import { GuardsConsumer, GuardsContextCreator } from '@nestjs/core/guards/index.js';
import { InterceptorsConsumer, InterceptorsContextCreator } from '@nestjs/core/interceptors/index.js';
import { PipesConsumer, PipesContextCreator } from '@nestjs/core/pipes/index.js';
import type { EventBrokerModuleOptions } from './event-broker-module-options.interface.js';

/** `ModuleRef` keeps the container it was made by; Nest offers no public getter for it. */
function containerOf(moduleRef: ModuleRef): NestContainer {
  return (moduleRef as unknown as { container: NestContainer }).container;
}

/**
 * Exception filters behave as on any handler, but an error that no filter handles goes straight
 * back to the broker, which logs it once and retries; Nest's fallback would log it again.
 */
class EventExceptionsHandler extends ExternalExceptionsHandler {
  constructor(private readonly withFilters: ExternalExceptionsHandler) {
    super();
  }

  override next(exception: Error, host: ArgumentsHost): Promise<unknown> {
    const handled = this.withFilters.invokeCustomFilters(exception, host);
    if (handled === undefined || handled === null) throw exception;
    return handled;
  }
}

class EventExceptionFilterContext extends ExternalExceptionFilterContext {
  override create(...args: Parameters<ExternalExceptionFilterContext['create']>): ExternalExceptionsHandler {
    return new EventExceptionsHandler(super.create(...args));
  }
}

async function resolveInterceptor(moduleRef: ModuleRef, interceptor: Type<NestInterceptor> | NestInterceptor): Promise<NestInterceptor> {
  if (typeof interceptor !== 'function') return interceptor;
  try {
    return moduleRef.get(interceptor, { strict: false });
  } catch {
    return moduleRef.create(interceptor);
  }
}

/**
 * The enhancer configuration of event handlers: the module's event interceptors and, only when
 * `applyGlobalEnhancers` asks for it, the app's global guards, interceptors, pipes and filters
 * (which are usually written for HTTP requests).
 */
async function eventApplicationConfig(
  moduleRef: ModuleRef,
  options: EventBrokerModuleOptions,
  builtIn: readonly NestInterceptor[],
  app: ApplicationConfig | undefined,
): Promise<ApplicationConfig> {
  const config = new ApplicationConfig();
  if (options.applyGlobalEnhancers && app) {
    config.useGlobalGuards(...app.getGlobalGuards());
    config.useGlobalInterceptors(...app.getGlobalInterceptors());
    config.useGlobalPipes(...app.getGlobalPipes());
    config.useGlobalFilters(...app.getGlobalFilters());
    app.getGlobalRequestGuards().forEach((wrapper) => config.addGlobalRequestGuard(wrapper));
    app.getGlobalRequestInterceptors().forEach((wrapper) => config.addGlobalRequestInterceptor(wrapper));
    app.getGlobalRequestPipes().forEach((wrapper) => config.addGlobalRequestPipe(wrapper));
    app.getGlobalRequestFilters().forEach((wrapper) => config.addGlobalRequestFilter(wrapper));
  }
  for (const interceptor of builtIn) config.addGlobalInterceptor(interceptor);
  for (const interceptor of options.interceptors ?? []) config.addGlobalInterceptor(await resolveInterceptor(moduleRef, interceptor));
  return config;
}

/** How event handlers are run: the enhancer configuration, and the pipeline built from it. */
export interface EventContext {
  readonly config: ApplicationConfig;
  readonly creator: ExternalContextCreator;
}

/**
 * An `ExternalContextCreator` that runs event handlers through Nest's enhancer pipeline, inside
 * the `builtIn` interceptors (tracing, metrics) and then those of the options.
 */
export async function createEventContext(
  moduleRef: ModuleRef,
  options: EventBrokerModuleOptions,
  builtIn: readonly NestInterceptor[],
): Promise<EventContext> {
  const container = containerOf(moduleRef);
  const config = await eventApplicationConfig(moduleRef, options, builtIn, container.applicationConfig);
  const creator = new ExternalContextCreator(
    new GuardsContextCreator(container, config),
    new GuardsConsumer(),
    new InterceptorsContextCreator(container, config),
    new InterceptorsConsumer(),
    container.getModules(),
    new PipesContextCreator(container, config),
    new PipesConsumer(),
    new EventExceptionFilterContext(container, config),
  );
  return { config, creator };
}
