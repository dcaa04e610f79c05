import 'reflect-metadata';
import {
  CallHandler,
  Catch,
  Controller,
  Inject,
  Injectable,
  Module,
  ParseIntPipe,
  UseFilters,
  UseGuards,
  UseInterceptors,
  type CanActivate,
  type ExecutionContext,
  type INestApplicationContext,
  type INestMicroservice,
  type NestInterceptor,
  type RpcExceptionFilter,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxy, ClientsModule, Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, of, throwError, type Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EventBroker,
  EventBrokerModule,
  EventPublisher,
  type BrokerEvent,
  type DeadLetter,
  type EventBrokerModuleOptions,
} from 'nestjs-event-broker';
import {
  EventBrokerClient,
  EventBrokerContext,
  EventBrokerRecord,
  EventBrokerStrategy,
  type EventBrokerMicroserviceOptions,
} from 'nestjs-event-broker/microservices';
import { deleteStreams, NATS_URL, uniqueStream } from '../support/nats.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait-for.js';

interface UserCreated {
  name: string;
}

interface Handled {
  payload: UserCreated;
  event: BrokerEvent;
  pattern: string;
  attempt: number;
}

const USERS_CLIENT = Symbol('USERS_CLIENT');

/** What the consumer's handlers saw, across restarts of the microservice. */
class Recorder {
  readonly handled: Handled[] = [];
  readonly failures: number[] = [];
  readonly contextTypes: string[] = [];
  readonly quantities: number[] = [];
}

@Injectable()
class RecordContextType implements NestInterceptor {
  constructor(@Inject(Recorder) private readonly recorder: Recorder) {}

  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    this.recorder.contextTypes.push(execution.getType());
    return next.handle();
  }
}

class DuplicateUserError extends Error {}

/** An exception filter that handles the error (returns a value) marks the event handled. */
@Catch(DuplicateUserError)
class IgnoreDuplicates implements RpcExceptionFilter<DuplicateUserError> {
  catch(): Observable<undefined> {
    return of(undefined);
  }
}

/** Lets through events whose payload names the warehouse as their origin. */
@Injectable()
class AllowWarehouseOnly implements CanActivate {
  canActivate(execution: ExecutionContext): boolean {
    return execution.switchToRpc().getData<{ origin?: string }>().origin === 'warehouse';
  }
}

@Controller()
@UseInterceptors(RecordContextType)
class UsersEventsController {
  constructor(@Inject(Recorder) private readonly recorder: Recorder) {}

  // `<string>` picks Nest 12's untyped overload: its typed one accepts no typed `@Ctx()` parameter under strict TypeScript.
  @EventPattern<string>('public.users.*')
  onUserEvent(@Payload() payload: UserCreated, @Ctx() context: EventBrokerContext): void {
    this.recorder.handled.push({
      payload,
      event: context.getEvent(),
      pattern: context.getPattern(),
      attempt: context.getDelivery().attempt,
    });
  }

  @EventPattern<string>('public.crm.sync', { retry: { maxRetries: 2, initialDelayMs: 20, jitter: 0 } })
  onCrmSync(@Ctx() context: EventBrokerContext): void {
    this.recorder.failures.push(context.getDelivery().attempt);
    throw new RpcException('CRM is down');
  }

  @EventPattern<string>('public.billing.charge', { retry: { maxRetries: 1, initialDelayMs: 20, jitter: 0 } })
  onCharge(@Ctx() context: EventBrokerContext): Observable<never> {
    this.recorder.failures.push(context.getDelivery().attempt);
    return throwError(() => new RpcException('card declined'));
  }

  @EventPattern<string>('public.users.duplicate')
  @UseFilters(IgnoreDuplicates)
  onDuplicate(): void {
    throw new DuplicateUserError();
  }

  @EventPattern<string>('public.stock.adjust', { retry: { maxRetries: 1, initialDelayMs: 20, jitter: 0 } })
  @UseGuards(AllowWarehouseOnly)
  onStockAdjust(@Payload('quantity', ParseIntPipe) quantity: number): void {
    this.recorder.quantities.push(quantity);
  }
}

@Controller()
class RequestReplyController {
  @MessagePattern('public.users.get')
  getUser(): UserCreated {
    return { name: 'never' };
  }
}

interface Bridge {
  name: string;
  options: () => EventBrokerModuleOptions;
  cleanup: () => Promise<void>;
}

function redisBridge(): Bridge {
  const keyPrefix = uniquePrefix('bridge');
  return {
    name: 'redis',
    options: () => ({ transport: 'redis', redis: { url: REDIS_URL, keyPrefix }, serviceName: 'users-consumer' }),
    cleanup: () => deleteKeys(keyPrefix),
  };
}

function natsBridge(): Bridge {
  const names = uniqueStream('bridge');
  return {
    name: 'nats',
    options: () => ({ transport: 'nats', nats: { servers: NATS_URL, ...names, ackWaitMs: 5000 }, serviceName: 'users-consumer' }),
    cleanup: () => deleteStreams(names.stream),
  };
}

/** The one dead letter of `group` on the consumer's broker, once it is there. */
async function theDeadLetter(consumer: INestMicroservice, group: string): Promise<DeadLetter> {
  const { transport } = consumer.unwrap<EventBroker>();
  await waitFor(async () => (await transport.deadLetters({ group })).length === 1, `one dead letter in group ${group}`, 10_000);
  const [deadLetter] = await transport.deadLetters({ group });
  return deadLetter;
}

describe.each([{ make: redisBridge }, { make: natsBridge }])('the microservices bridge on $make.name', ({ make }) => {
  const bridge = make();
  const opened: (INestMicroservice | INestApplicationContext)[] = [];

  afterEach(async () => {
    for (const app of opened.splice(0).toReversed()) await app.close();
    await bridge.cleanup();
  });

  async function startConsumer(recorder: Recorder, controllers: (new (...args: never[]) => object)[] = [UsersEventsController]) {
    @Module({ controllers, providers: [{ provide: Recorder, useValue: recorder }, RecordContextType] })
    class ConsumerModule {}
    const app = await NestFactory.createMicroservice(ConsumerModule, {
      strategy: new EventBrokerStrategy(bridge.options()),
      logger: false,
    });
    opened.push(app);
    await app.listen();
    return app;
  }

  async function startProducer(): Promise<ClientProxy> {
    @Module({ imports: [ClientsModule.register([{ name: USERS_CLIENT, customClass: EventBrokerClient, options: bridge.options() }])] })
    class ProducerModule {}
    const app = await NestFactory.createApplicationContext(ProducerModule, { logger: false });
    opened.push(app);
    return app.get<ClientProxy>(USERS_CLIENT);
  }

  async function stop(app: INestMicroservice): Promise<void> {
    opened.splice(opened.indexOf(app), 1);
    await app.close();
  }

  it('delivers what EventBrokerClient emits in another app to the @EventPattern handler, with the whole event in @Ctx()', async () => {
    const recorder = new Recorder();
    await startConsumer(recorder);
    const client = await startProducer();

    const stored = await lastValueFrom(
      client.emit(
        'public.users.create',
        new EventBrokerRecord({ name: 'Ada' }, { userId: 42, key: 'user-42', metadata: { tenant: 'acme' } }),
      ),
    );

    await waitFor(() => recorder.handled.length === 1, 'the @EventPattern handler ran', 10_000);
    const [handled] = recorder.handled;
    expect(handled.payload).toEqual({ name: 'Ada' });
    expect(handled.pattern).toBe('public.users.*');
    expect(handled.attempt).toBe(1);
    expect(recorder.contextTypes).toEqual(['rpc']);
    expect(handled.event).toMatchObject({
      id: (stored as BrokerEvent).id,
      type: 'public.users.create',
      source: 'internal',
      userId: 42,
      key: 'user-42',
      retryCount: 0,
      metadata: { tenant: 'acme' },
    });
  });

  it('handles an event emitted while the consumer app was stopped once it starts again', async () => {
    const recorder = new Recorder();
    const consumer = await startConsumer(recorder);
    await stop(consumer);
    const client = await startProducer();

    await lastValueFrom(client.emit('public.users.update', { name: 'Grace' }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(recorder.handled).toHaveLength(0);

    await startConsumer(recorder);
    await waitFor(() => recorder.handled.length === 1, 'the event emitted while stopped was handled after the restart', 10_000);
    expect(recorder.handled[0].payload).toEqual({ name: 'Grace' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(recorder.handled).toHaveLength(1);
  });

  it('retries a handler that throws, then dead-letters the event with its error', async () => {
    const recorder = new Recorder();
    const consumer = await startConsumer(recorder);
    const client = await startProducer();

    const event = (await lastValueFrom(client.emit('public.crm.sync', { name: 'Linus' }))) as BrokerEvent;

    const deadLetter = await theDeadLetter(consumer, 'users-consumer:public.crm.sync');
    expect(recorder.failures).toEqual([1, 2, 3]);
    expect(deadLetter).toMatchObject({ error: 'CRM is down', attempts: 3 });
    expect(deadLetter.event.id).toBe(event.id);
  });

  it('retries a handler whose Observable errors, then dead-letters it; an exception filter that handles the error settles the event', async () => {
    const recorder = new Recorder();
    const consumer = await startConsumer(recorder);
    const client = await startProducer();

    await lastValueFrom(client.emit('public.billing.charge', { name: 'Edsger' }));
    const duplicate = (await lastValueFrom(client.emit('public.users.duplicate', { name: 'Edsger' }))) as BrokerEvent;

    const deadLetter = await theDeadLetter(consumer, 'users-consumer:public.billing.charge');
    const transport = consumer.unwrap<EventBroker>().transport;
    expect(deadLetter).toMatchObject({ error: 'card declined', attempts: 2 });
    expect(recorder.failures).toEqual([1, 2]);
    await waitFor(async () => (await transport.get(duplicate.id))?.status === 'completed', 'the filtered event is completed', 10_000);
    expect(await transport.deadLetters({ group: 'users-consumer:public.users.duplicate' })).toEqual([]);
  });

  it('runs guards and pipes as on any microservice handler: a denied event is retried, then dead-lettered', async () => {
    const recorder = new Recorder();
    const consumer = await startConsumer(recorder);
    const client = await startProducer();

    await lastValueFrom(client.emit('public.stock.adjust', { origin: 'warehouse', quantity: '12' }));
    const denied = (await lastValueFrom(client.emit('public.stock.adjust', { origin: 'shop', quantity: '3' }))) as BrokerEvent;

    const deadLetter = await theDeadLetter(consumer, 'users-consumer:public.stock.adjust');
    expect(deadLetter).toMatchObject({ error: 'Forbidden resource', attempts: 2, event: { id: denied.id } });
    expect(recorder.quantities).toEqual([12]);
  });

  it('refuses a @MessagePattern handler at listen, naming it', async () => {
    await expect(startConsumer(new Recorder(), [RequestReplyController])).rejects.toThrow(
      /@MessagePattern\("public\.users\.get"\) is request-reply.*@EventPattern/,
    );
  });

  it('rejects send() with an error that says to use emit()', async () => {
    const client = await startProducer();
    await expect(firstValueFrom(client.send('public.users.get', {}))).rejects.toThrow(/request-reply is not carried.*emit\(\)/);
  });
});

describe('the microservices bridge options', () => {
  it('refuses an unknown option of the strategy or the client, naming the one meant', () => {
    expect(() => new EventBrokerStrategy({ transprot: 'redis' } as EventBrokerMicroserviceOptions)).toThrow(
      'EventBrokerStrategy option transprot is unknown; did you mean transport?',
    );
    expect(() => new EventBrokerClient({ brokr: undefined } as EventBrokerMicroserviceOptions)).toThrow(
      'EventBrokerClient option brokr is unknown; did you mean broker?',
    );
  });
});

describe('the microservices bridge in a hybrid app', () => {
  it("runs @EventPattern handlers on the app's own broker when connected with connectMicroservice", async () => {
    const recorder = new Recorder();
    @Module({
      imports: [EventBrokerModule.forRoot({ serviceName: 'hybrid' })],
      controllers: [UsersEventsController],
      providers: [{ provide: Recorder, useValue: recorder }, RecordContextType],
    })
    class HybridModule {}
    const app = await NestFactory.create(HybridModule, { logger: false });
    try {
      app.connectMicroservice({ strategy: new EventBrokerStrategy({ broker: app.get(EventBroker) }) });
      await app.startAllMicroservices();
      await app.init();

      const event = await app.get(EventPublisher).publish('public.users.create', { name: 'Barbara' });

      await waitFor(() => recorder.handled.length === 1, 'the @EventPattern handler ran on the shared broker');
      expect(recorder.handled[0]).toMatchObject({ payload: { name: 'Barbara' }, event: { id: event.id }, pattern: 'public.users.*' });
    } finally {
      await app.close();
    }
  });
});
