import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type NestInterceptor,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ContextIdFactory, DiscoveryService, type ContextId, MetadataScanner, ModuleRef } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import { EventBroker } from '../core/event-broker.js';
import { EventBrokerError } from '../core/event-broker.errors.js';
import { errorMessage } from '../core/error-message.js';
import { describeInvalidPattern } from '../core/match-pattern.js';
import { isEventContract } from '../core/define-event.js';
import type { DeliveryInfo, EventHandler } from '../core/subscription.interface.js';
import { EVENT_ARGS_METADATA, EVENT_BROKER_OPTIONS, EVENT_CONTEXT_TYPE, EMITS_EVENT_METADATA } from './event-broker.constants.js';
import type { EventBrokerModuleOptions } from './event-broker-module-options.interface.js';
import { createEventContext, type EventContext } from './event-context-creator.factory.js';
import { enhancerFreeHandler, runsWithoutEnhancers } from './enhancer-free-handler.js';
import { EventParamsFactory } from './event-params.factory.js';
import { EventPublisher } from './event-publisher.js';
import { EventBrokerMetrics } from '../observability/event-broker-metrics.js';
import { EventMetricsInterceptor } from '../observability/event-metrics.interceptor.js';
import { EventTracingInterceptor } from '../observability/event-tracing.interceptor.js';
import { EventRequestContext } from './event-request-context.js';
import { EVENT_PUBLISHER_REF } from './emits-event.decorator.js';
import { discoveredInstances } from './discovered-instances.js';
import { onEventMetadata } from './on-event.decorator.js';
import { defaultHandlerGroup, onEventSubscriptions } from './on-event-subscriptions.js';

type HandlerHost = Record<string, (...args: unknown[]) => unknown>;

/**
 * At bootstrap, binds every `@OnEvent` method of every provider and controller to the broker and
 * starts it; before shutdown, stops it (which drains accepted work).
 */
@Injectable()
export class EventSubscribersLoader implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('EventBroker');
  private readonly paramsFactory = new EventParamsFactory();
  private context?: EventContext;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly moduleRef: ModuleRef,
    private readonly broker: EventBroker,
    private readonly publisher: EventPublisher,
    @Inject(EVENT_BROKER_OPTIONS) private readonly options: EventBrokerModuleOptions,
    @Optional() @Inject(EventBrokerMetrics) private readonly metrics?: EventBrokerMetrics | null,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const builtIn: NestInterceptor[] = [];
    if (this.options.tracing) builtIn.push(new EventTracingInterceptor());
    if (this.metrics) builtIn.push(new EventMetricsInterceptor(this.metrics));
    this.context = await createEventContext(this.moduleRef, this.options, builtIn);
    for (const { wrapper, instance } of discoveredInstances(this.discovery)) {
      this.attachPublisher(instance);
      for (const method of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance) as object)) {
        await this.bind(wrapper, instance as HandlerHost, method);
      }
    }
    await this.broker.start();
    await this.publisher.release();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.publisher.heldCount > 0)
      this.logger.warn(
        `${this.publisher.heldCount} events published before bootstrap were never published: the application did not bootstrap`,
      );
    await this.broker.stop();
    this.metrics?.untrack(this.broker);
  }

  private attachPublisher(instance: object): void {
    if (!Reflect.getMetadata(EMITS_EVENT_METADATA, instance.constructor)) return;
    Object.defineProperty(instance, EVENT_PUBLISHER_REF, { value: this.publisher, configurable: true });
    Object.defineProperty(Object.getPrototypeOf(instance), EVENT_PUBLISHER_REF, { value: this.publisher, configurable: true });
  }

  private async bind(wrapper: InstanceWrapper, instance: HandlerHost, method: string): Promise<void> {
    const decorators = onEventMetadata(instance[method]);
    if (decorators.length === 0) return;
    const where = `@OnEvent on ${instance.constructor.name}.${method}`;
    for (const selector of decorators.flatMap((decorator) => decorator.selectors)) {
      if (isEventContract(selector)) continue;
      const problem = describeInvalidPattern(selector);
      if (problem) throw new EventBrokerError(`${where}: invalid pattern: ${problem}`);
    }
    const subscriptions = onEventSubscriptions(
      decorators,
      defaultHandlerGroup(this.broker.serviceName, instance.constructor.name, method),
      where,
    );
    const perEvent = wrapper.isTransient || !wrapper.isDependencyTreeStatic();
    const run = perEvent
      ? (event: BrokerEvent, delivery: DeliveryInfo) => this.runScoped(wrapper, method, event, delivery)
      : this.staticHandler(wrapper, instance, method);
    const handler: EventHandler = (event, delivery) =>
      EventRequestContext.run({ userId: event.userId, sessionId: event.sessionId }, () => run(event, delivery));
    for (const { selectors, options } of subscriptions) {
      try {
        await this.broker.subscribe(selectors, handler, options);
      } catch (error) {
        throw new EventBrokerError(`${where}: ${errorMessage(error)}`, { cause: error });
      }
    }
  }

  /** A handler on a static host: called straight when Nest's pipeline would have nothing to run around it. */
  private staticHandler(wrapper: InstanceWrapper, instance: HandlerHost, method: string): EventHandler {
    const { config } = this.context as EventContext;
    const classes = [instance.constructor, wrapper.metatype].filter((target) => typeof target === 'function');
    return runsWithoutEnhancers(config, classes, instance[method], method)
      ? enhancerFreeHandler(instance, instance[method])
      : this.pipeline(instance, method);
  }

  private pipeline(
    instance: HandlerHost,
    method: string,
    contextId?: ContextId,
    inquirerId?: string,
  ): (event: BrokerEvent, delivery: DeliveryInfo) => Promise<unknown> {
    return (this.context as EventContext).creator.create(
      instance,
      instance[method],
      method,
      EVENT_ARGS_METADATA,
      this.paramsFactory,
      contextId,
      inquirerId,
      undefined,
      EVENT_CONTEXT_TYPE,
    );
  }

  /** A request- or transient-scoped host gets a fresh instance per event, as an HTTP request would. */
  private async runScoped(wrapper: InstanceWrapper, method: string, event: BrokerEvent, delivery: DeliveryInfo): Promise<unknown> {
    const contextId = ContextIdFactory.create();
    this.moduleRef.registerRequestByContextId(event, contextId);
    const instance = await this.moduleRef.resolve<unknown, HandlerHost>(wrapper.token, contextId, { strict: false });
    return this.pipeline(instance, method, contextId, wrapper.id)(event, delivery);
  }
}
