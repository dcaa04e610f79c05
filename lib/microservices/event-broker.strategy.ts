import { CustomTransportStrategy, Server, type MessageHandler } from '@nestjs/microservices';
import { lastValueFrom, type Observable } from 'rxjs';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import { EventBrokerError } from '../core/event-broker.errors.js';
import type { EventBroker } from '../core/event-broker.js';
import { describeInvalidPattern } from '../core/match-pattern.js';
import type { DeliveryInfo, SubscribeOptions, Subscription } from '../core/subscription.interface.js';
import { createBroker, createMetrics } from '../nest/event-broker.factory.js';
import { EventRequestContext } from '../nest/event-request-context.js';
import type { EventBrokerMetrics } from '../observability/event-broker-metrics.js';
import { traceProcessing } from '../observability/processing-tracing.js';
import type { EventBrokerMicroserviceOptions } from './event-broker-microservice-options.interface.js';
import { MICROSERVICE_OPTION_NAMES } from './microservice-option-names.js';
import { assertKnownOptions } from '../core/known-options.js';
import { EventBrokerContext } from './event-broker.context.js';
import { EVENT_BROKER_TRANSPORT } from './event-broker.transport.js';
import { asHandlerError } from './handler-error.js';
import { quote } from '../core/quote-input.js';

/**
 * A Nest microservice server on the broker: every `@EventPattern` becomes a durable subscription,
 * in the group `<serviceName>:<pattern>` (`*` written `:any`, `**` `:all`, which no event type
 * segment can be), unless the pattern's extras name one
 * (`@EventPattern('a.b.*', { group, retry, concurrency, fromBeginning, ordered })`). A handler that throws,
 * or whose Observable errors, is retried and dead-lettered as an `@OnEvent` handler is.
 */
export class EventBrokerStrategy extends Server implements CustomTransportStrategy {
  override readonly transportId = EVENT_BROKER_TRANSPORT;
  /** Nest 12 then leaves handler errors to the transport (here: retries and dead letters) instead of only logging them. */
  override readonly propagatesEventHandlerErrors = true;
  private broker?: EventBroker;
  private metrics: EventBrokerMetrics | null = null;
  private subscriptions: Subscription[] = [];

  constructor(private readonly options: EventBrokerMicroserviceOptions = {}) {
    super();
    assertKnownOptions('EventBrokerStrategy', options, MICROSERVICE_OPTION_NAMES);
  }

  listen(callback: (error?: unknown) => void): void {
    this.start().then(
      () => {
        this._status$.next('connected');
        callback();
      },
      (error: unknown) => callback(error),
    );
  }

  async close(): Promise<void> {
    const broker = this.broker;
    if (!broker) return;
    this.broker = undefined;
    if (this.options.broker) {
      for (const subscription of this.subscriptions) await broker.unsubscribe(subscription);
    } else {
      await broker.stop();
      this.metrics?.untrack(broker);
    }
    this.subscriptions = [];
    this._status$.next('disconnected');
  }

  /** The broker this server consumes from (once listening). */
  unwrap<T = EventBroker>(): T {
    if (!this.broker) throw new EventBrokerError('EventBrokerStrategy is not listening: there is no broker to unwrap yet');
    return this.broker as T;
  }

  on(): never {
    throw new EventBrokerError('EventBrokerStrategy emits no events: read its status, or the broker (unwrap()) stats()');
  }

  private async start(): Promise<void> {
    const handlers = [...this.messageHandlers];
    for (const [pattern, handler] of handlers) this.assertBindable(pattern, handler);
    this.metrics = this.options.broker ? null : createMetrics(this.options);
    const broker = this.options.broker ?? (await createBroker(this.options, this.metrics));
    this.broker = broker;
    for (const [pattern, handler] of handlers) {
      const options = this.subscribeOptions(broker, pattern, handler);
      this.subscriptions.push(
        await broker.subscribe(pattern, (event, delivery) => this.handle(pattern, handler, event, delivery), options),
      );
    }
    if (!this.options.broker) await broker.start();
  }

  private assertBindable(pattern: string, handler: MessageHandler): void {
    if (!handler.isEventHandler) {
      throw new EventBrokerError(
        `@MessagePattern(${quote(pattern)}) is request-reply, which EventBrokerStrategy does not carry: ` +
          `make that handler an @EventPattern (it then returns nothing to the sender), or serve it on a request-reply transport`,
      );
    }
    const problem = describeInvalidPattern(pattern);
    if (problem) {
      throw new EventBrokerError(
        `@EventPattern(${quote(pattern)}): invalid pattern for EventBrokerStrategy: ${problem} (use an event type such as 'public.users.create', with * or ** as in @OnEvent)`,
      );
    }
  }

  private subscribeOptions(broker: EventBroker, pattern: string, handler: MessageHandler): SubscribeOptions {
    const extras = (handler.extras ?? {}) as SubscribeOptions;
    const group = extras.group ?? `${broker.serviceName}:${pattern.replaceAll('**', ':all').replaceAll('*', ':any')}`;
    const { retry, concurrency, fromBeginning, ordered } = extras;
    return { group, retry, concurrency, fromBeginning, ordered };
  }

  private handle(pattern: string, handler: MessageHandler, event: BrokerEvent, delivery: DeliveryInfo): Promise<unknown> {
    const context = new EventBrokerContext([event, delivery, pattern]);
    const handling = (): Observable<unknown> => this.transformToObservable(handler(event.payload, context));
    const traced = () => (this.options.tracing ? traceProcessing(event, delivery, handling) : handling());
    const counted = () => (this.metrics ? traced().pipe(this.metrics.countProcessing(event, delivery)) : traced());
    return EventRequestContext.run({ userId: event.userId, sessionId: event.sessionId }, () =>
      this.withProcessingHooks(context, () => lastValueFrom(counted(), { defaultValue: undefined }).catch(asHandlerError)),
    );
  }

  /** Runs `run` between the hooks Nest instrumentation may set on a server (spans, request context). */
  private withProcessingHooks<T>(context: EventBrokerContext, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.onProcessingStartHook(this.transportId, context, async () => {
        try {
          resolve(await run());
        } catch (error) {
          reject(error);
        } finally {
          this.onProcessingEndHook?.(this.transportId, context);
        }
      });
    });
  }
}
