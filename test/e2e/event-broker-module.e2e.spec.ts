import 'reflect-metadata';
import {
  Body,
  Catch,
  Controller,
  Inject,
  Injectable,
  Module,
  Post,
  Scope,
  UseFilters,
  UseGuards,
  UseInterceptors,
  UsePipes,
  type ArgumentsHost,
  type CallHandler,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
  type OnModuleInit,
  type PipeTransform,
  type Type,
} from '@nestjs/common';
import { APP_GUARD, REQUEST } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { map, tap, throwError, timer, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { useTestApps } from '../support/test-apps.js';
import {
  EmitsEvent,
  EventBroker,
  EventBrokerModule,
  EventPublisher,
  OnEvent,
  type BrokerEvent,
  type EmitsEventOptions,
  type EventBrokerModuleAsyncOptions,
  type EventBrokerModuleOptions,
  type OnEventOptions,
} from '../../lib/index.js';
import { deferred, waitFor } from '../support/wait-for.js';

const FAST = { retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 2, jitter: 0 } } satisfies EventBrokerModuleOptions;
const testApps = useTestApps();
const { apps } = testApps;

function boot(providers: Type[], options: EventBrokerModuleOptions = FAST, controllers: Type[] = []): Promise<INestApplication> {
  return testApps.boot({ imports: [EventBrokerModule.forRoot(options)], providers, controllers });
}

const log: string[] = [];

@Injectable()
class WelcomeMailer {
  readonly sent: BrokerEvent[] = [];

  @OnEvent('public.users.create')
  send(event: BrokerEvent<{ name: string }>): void {
    this.sent.push(event);
  }
}

describe('EventBrokerModule', () => {
  it('discovers @OnEvent handlers on providers and controllers and runs them', async () => {
    @Controller()
    class AuditController {
      readonly seen: string[] = [];
      @OnEvent(['public.users.*', 'public.orders.**'])
      record(event: BrokerEvent): void {
        this.seen.push(event.type);
      }
    }
    const app = await boot([WelcomeMailer], FAST, [AuditController]);
    const publisher = app.get(EventPublisher);
    const event = await publisher.publish('public.users.create', { name: 'Ada' }, { source: 'database', key: 'user-ada' });
    await publisher.publish('public.orders.line.create', {});
    const mailer = app.get(WelcomeMailer);
    await waitFor(() => mailer.sent.length === 1 && app.get(AuditController).seen.length === 2, 'handlers ran');
    expect(mailer.sent[0]).toMatchObject({ id: event.id, payload: { name: 'Ada' }, source: 'database', key: 'user-ada' });
    const stats = await app.get(EventBroker).stats();
    expect(Object.keys(stats.transport.groups).toSorted()).toEqual(['app.AuditController.record', 'app.WelcomeMailer.send']);
  });

  it('gives a request-scoped handler a fresh instance per event, with the event as REQUEST', async () => {
    const instances = new Set<unknown>();
    const requests: unknown[] = [];
    @Injectable({ scope: Scope.REQUEST })
    class ScopedHandler {
      constructor(@Inject(REQUEST) readonly current: BrokerEvent) {}
      @OnEvent('public.users.create')
      handle(event: BrokerEvent): void {
        instances.add(this);
        requests.push(this.current === event || this.current.id === event.id);
      }
    }
    @Injectable({ scope: Scope.TRANSIENT })
    class TransientHandler {
      @OnEvent('public.users.create')
      handle(): void {
        instances.add(this);
      }
    }
    const app = await boot([ScopedHandler, TransientHandler]);
    const publisher = app.get(EventPublisher);
    await publisher.publish('public.users.create', {});
    await publisher.publish('public.users.create', {});
    await waitFor(() => instances.size === 4, 'four fresh instances');
    expect(requests).toEqual([true, true]);
  });

  it('runs handlers through interceptors, guards, pipes and exception filters with context type "event"', async () => {
    log.length = 0;
    @Injectable()
    class LogInterceptor implements NestInterceptor {
      intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
        log.push(`interceptor:${context.getType()}:${context.getArgByIndex<BrokerEvent>(0).type}`);
        return next.handle().pipe(tap(() => log.push('interceptor:after')));
      }
    }
    class RejectMarked implements CanActivate {
      canActivate(context: ExecutionContext): boolean {
        return !(context.getArgByIndex<BrokerEvent<{ blocked?: boolean }>>(0).payload.blocked ?? false);
      }
    }
    class UpperCaseName implements PipeTransform {
      transform(event: BrokerEvent<{ name: string }>): BrokerEvent<{ name: string }> {
        return { ...event, payload: { name: event.payload.name.toUpperCase() } };
      }
    }
    @Catch()
    class SwallowFilter implements ExceptionFilter {
      catch(error: Error, host: ArgumentsHost): string {
        log.push(`filter:${host.getType()}:${error.message}`);
        return 'handled';
      }
    }
    @Injectable()
    class Enhanced {
      readonly names: string[] = [];
      @OnEvent('public.users.create')
      @UseInterceptors(LogInterceptor)
      @UseGuards(RejectMarked)
      @UsePipes(UpperCaseName)
      handle(event: BrokerEvent<{ name: string }>): void {
        this.names.push(event.payload.name);
      }

      @OnEvent('public.users.delete')
      @UseFilters(SwallowFilter)
      fail(): void {
        throw new Error('boom');
      }
    }
    const app = await boot([Enhanced]);
    const publisher = app.get(EventPublisher);
    const broker = app.get(EventBroker);
    await publisher.publish('public.users.create', { name: 'ada' });
    const blocked = await publisher.publish('public.users.create', { name: 'eve', blocked: true });
    const deleted = await publisher.publish('public.users.delete', {});
    await waitFor(async () => (await broker.transport.get(blocked.id))?.status === 'failed', 'guarded event failed');
    await waitFor(async () => (await broker.transport.get(deleted.id))?.status === 'completed', 'filtered event completed');
    expect(app.get(Enhanced).names).toEqual(['ADA']);
    expect(log).toEqual(expect.arrayContaining(['interceptor:event:public.users.create', 'interceptor:after', 'filter:event:boom']));
    const [dead] = await broker.transport.deadLetters();
    expect(dead).toMatchObject({ group: 'app.Enhanced.handle', error: 'Forbidden resource' });
  });

  it('applies the enhancers of a handler class to each of its @OnEvent methods', async () => {
    class DenyAll implements CanActivate {
      canActivate(): boolean {
        return false;
      }
    }
    @Injectable()
    @UseGuards(DenyAll)
    class Guarded {
      readonly seen: string[] = [];
      @OnEvent('public.users.create')
      handle(event: BrokerEvent): void {
        this.seen.push(event.id);
      }
    }
    const app = await boot([Guarded]);
    const broker = app.get(EventBroker);
    const event = await app.get(EventPublisher).publish('public.users.create', {});
    await waitFor(async () => (await broker.transport.get(event.id))?.status === 'failed', 'guarded event failed');
    expect(app.get(Guarded).seen).toEqual([]);
    expect((await broker.transport.deadLetters())[0]).toMatchObject({ group: 'app.Guarded.handle', error: 'Forbidden resource' });
  });

  it('waits for the Observable a handler returns, and retries the handler when it errors', async () => {
    const finished: number[] = [];
    let calls = 0;
    @Injectable()
    class Streaming {
      @OnEvent('public.users.create')
      handle(): Observable<number> {
        const call = ++calls;
        if (call === 1) return throwError(() => new Error('stream broke'));
        return timer(20).pipe(map(() => finished.push(call)));
      }
    }
    const app = await boot([Streaming]);
    const broker = app.get(EventBroker);
    const event = await app.get(EventPublisher).publish('public.users.create', {});
    await waitFor(async () => (await broker.transport.get(event.id))?.status === 'completed', 'event completed');
    expect(calls).toBe(2);
    expect(finished).toEqual([2]);
  });

  it('waits for an Observable that an async handler resolves to', async () => {
    const finished: string[] = [];
    @Injectable()
    class Deferred {
      @OnEvent('public.users.create')
      async handle(event: BrokerEvent): Promise<Observable<number>> {
        return timer(20).pipe(map(() => finished.push(event.id)));
      }
    }
    const app = await boot([Deferred]);
    const broker = app.get(EventBroker);
    const event = await app.get(EventPublisher).publish('public.users.create', {});
    await waitFor(async () => (await broker.transport.get(event.id))?.status === 'completed', 'event completed');
    expect(finished).toEqual([event.id]);
  });

  it('keeps app-global HTTP guards off event handlers unless applyGlobalEnhancers is set', async () => {
    class DenyAll implements CanActivate {
      canActivate(): boolean {
        return false;
      }
    }
    for (const applyGlobalEnhancers of [false, true]) {
      @Module({
        imports: [EventBrokerModule.forRoot({ ...FAST, applyGlobalEnhancers })],
        providers: [WelcomeMailer, { provide: APP_GUARD, useClass: DenyAll }],
      })
      class GuardedModule {}
      const moduleRef = await Test.createTestingModule({ imports: [GuardedModule] }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      apps.push(app);
      await app.init();
      const event = await app.get(EventPublisher).publish('public.users.create', { name: 'x' });
      const broker = app.get(EventBroker);
      await waitFor(async () => ['completed', 'failed'].includes((await broker.transport.get(event.id))?.status ?? ''), 'settled');
      expect((await broker.transport.get(event.id))?.status).toBe(applyGlobalEnhancers ? 'failed' : 'completed');
    }
  });

  it('runs the interceptors given in the options around every handler', async () => {
    const seen: string[] = [];
    @Injectable()
    class TimingInterceptor implements NestInterceptor {
      intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
        seen.push(`${context.getClass().name}.${context.getHandler().name}`);
        return next.handle();
      }
    }
    const app = await boot([WelcomeMailer], { ...FAST, interceptors: [TimingInterceptor] });
    await app.get(EventPublisher).publish('public.users.create', { name: 'x' });
    await waitFor(() => seen.length === 1, 'interceptor ran');
    expect(seen).toEqual(['WelcomeMailer.send']);
  });

  it('fails bootstrap on an invalid pattern, naming the class and method', async () => {
    @Injectable()
    class BadPattern {
      @OnEvent('public.**.create')
      handle(): void {}
    }
    await expect(boot([BadPattern])).rejects.toThrow(
      /@OnEvent on BadPattern\.handle: invalid pattern: .*"\*\*" is only allowed as the last segment/,
    );
  });

  it('runs a method with two @OnEvent decorators for the events of both, in its one default group', async () => {
    @Injectable()
    class Stacked {
      readonly seen: string[] = [];
      @OnEvent('public.users.create')
      @OnEvent('public.orders.*')
      handle(event: BrokerEvent): void {
        this.seen.push(event.type);
      }
    }
    const app = await boot([Stacked], { ...FAST, serviceName: 'shop' });
    const publisher = app.get(EventPublisher);
    await publisher.publish('public.users.create', {});
    await publisher.publish('public.orders.paid', {});
    const stacked = app.get(Stacked);
    await waitFor(() => stacked.seen.length === 2, 'both events handled');
    expect(stacked.seen.toSorted()).toEqual(['public.orders.paid', 'public.users.create']);
    expect(Object.keys((await app.get(EventBroker).stats()).transport.groups)).toEqual(['shop.Stacked.handle']);
  });

  it('gives stacked @OnEvent decorators with groups of their own a subscription each', async () => {
    @Injectable()
    class TwoGroups {
      readonly seen: string[] = [];
      @OnEvent('public.users.*', { group: 'users-audit' })
      @OnEvent('public.**', { group: 'everything-audit' })
      handle(event: BrokerEvent): void {
        this.seen.push(event.type);
      }
    }
    const app = await boot([TwoGroups]);
    await app.get(EventPublisher).publish('public.users.create', {});
    const twoGroups = app.get(TwoGroups);
    await waitFor(() => twoGroups.seen.length === 2, 'the event handled in both groups');
    expect(twoGroups.seen).toEqual(['public.users.create', 'public.users.create']);
    expect(Object.keys((await app.get(EventBroker).stats()).transport.groups).toSorted()).toEqual(['everything-audit', 'users-audit']);
  });

  it('runs an ordered @OnEvent handler on one key at a time, in publish order, and other keys beside it', async () => {
    const release = deferred();
    @Injectable()
    class OrderBook {
      readonly started: string[] = [];
      @OnEvent('public.orders.*', { ordered: true })
      async apply(event: BrokerEvent<{ step: string }>): Promise<void> {
        this.started.push(event.payload.step);
        if (event.payload.step === 'a1') await release.promise;
      }
    }
    const app = await boot([OrderBook]);
    const publisher = app.get(EventPublisher);
    await publisher.publish('public.orders.create', { step: 'a1' }, { key: 'order-a' });
    await publisher.publish('public.orders.update', { step: 'a2' }, { key: 'order-a' });
    await publisher.publish('public.orders.create', { step: 'b1' }, { key: 'order-b' });
    const book = app.get(OrderBook);
    await waitFor(() => book.started.includes('b1'), 'the other key handled');
    expect(book.started).toEqual(['a1', 'b1']);
    release.resolve();
    await waitFor(() => book.started.length === 3, "the key's next event handled");
    expect(book.started).toEqual(['a1', 'b1', 'a2']);
  });

  it('fails bootstrap when stacked @OnEvent decorators share a group but not their options, naming the method', async () => {
    @Injectable()
    class Conflicting {
      @OnEvent('public.users.create', { retry: { maxRetries: 5 } })
      @OnEvent('public.orders.*')
      handle(): void {}
    }
    await expect(boot([Conflicting], { ...FAST, serviceName: 'shop' })).rejects.toThrow(
      '@OnEvent on Conflicting.handle: two @OnEvent decorators share the group shop.Conflicting.handle with different options (retry, concurrency, fromBeginning, ordered): give them the same options, or each its own group',
    );
  });

  it('refuses an unknown module option, naming the one meant, from forRoot and from a forRootAsync factory', async () => {
    expect(() => EventBrokerModule.forRoot({ transprot: 'redis' } as EventBrokerModuleOptions)).toThrow(
      'EventBrokerModule option transprot is unknown; did you mean transport?',
    );
    expect(() => EventBrokerModule.forRoot({ metrics: { bucket: [1] } } as EventBrokerModuleOptions)).toThrow(
      'EventBrokerModule metrics option bucket is unknown; did you mean buckets?',
    );
    expect(() => EventBrokerModule.forRoot({ requestContext: { user: () => 1 } } as EventBrokerModuleOptions)).toThrow(
      'EventBrokerModule requestContext option user is unknown; did you mean userId?',
    );
    expect(() => EventBrokerModule.forRoot({ memory: { maxEvent: 5 } } as EventBrokerModuleOptions)).not.toThrow();
    @Module({ imports: [EventBrokerModule.forRoot({ memory: { maxEvent: 5 } } as EventBrokerModuleOptions)] })
    class NestedTypo {}
    await expect(Test.createTestingModule({ imports: [NestedTypo] }).compile()).rejects.toThrow(
      'MemoryTransport option maxEvent is unknown; did you mean maxEvents?',
    );
    @Module({
      imports: [EventBrokerModule.forRootAsync({ useFactory: () => ({ serviceName: 'api', workerCont: 2 }) as EventBrokerModuleOptions })],
    })
    class AsyncTypo {}
    await expect(Test.createTestingModule({ imports: [AsyncTypo] }).compile()).rejects.toThrow(
      'EventBrokerModule option workerCont is unknown; did you mean workerCount?',
    );
    expect(() => EventBrokerModule.forRootAsync({ useFactory: () => ({}), injct: [] } as EventBrokerModuleAsyncOptions)).toThrow(
      'EventBrokerModule.forRootAsync option injct is unknown; did you mean inject?',
    );
  });

  it('refuses an unknown @OnEvent or @EmitsEvent option where the decorator is written, naming the method', () => {
    expect(() => {
      class Typo {
        @OnEvent('public.users.create', { gruop: 'mailer' } as OnEventOptions)
        handle(): void {}
      }
      return Typo;
    }).toThrow('@OnEvent on Typo.handle option gruop is unknown; did you mean group?');
    expect(() => {
      class Typo {
        @EmitsEvent('public.users.create', { sourc: 'database' } as EmitsEventOptions)
        create(): void {}
      }
      return Typo;
    }).toThrow('@EmitsEvent on Typo.create option sourc is unknown; did you mean source?');
  });

  it('fails bootstrap on options the broker refuses, naming the method and keeping the refusal as the cause', async () => {
    @Injectable()
    class BadGroup {
      @OnEvent('public.users.create', { group: 'no spaces' })
      handle(): void {}
    }
    await expect(boot([BadGroup])).rejects.toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/^@OnEvent on BadGroup\.handle: Invalid subscription group "no spaces"/),
        cause: expect.objectContaining({ message: expect.stringMatching(/^Invalid subscription group/) }),
      }),
    );
  });

  it('drains accepted events on shutdown', async () => {
    let handled = 0;
    @Injectable()
    class Slow {
      @OnEvent('public.users.create')
      async handle(): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 2));
        handled++;
      }
    }
    const app = await boot([Slow]);
    const publisher = app.get(EventPublisher);
    for (let n = 0; n < 100; n++) await publisher.publish('public.users.create', { n });
    expect(handled).toBeLessThan(100);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect(handled).toBe(100);
  });

  it('keeps an event published in onModuleInit and delivers it once handlers are bound', async () => {
    @Injectable()
    class EarlyPublisher implements OnModuleInit {
      constructor(private readonly events: EventPublisher) {}
      async onModuleInit(): Promise<void> {
        await this.events.publish('public.users.create', { name: 'early' });
      }
    }
    const app = await boot([EarlyPublisher, WelcomeMailer]);
    const mailer = app.get(WelcomeMailer);
    await waitFor(() => mailer.sent.length === 1, 'early event delivered');
    expect(mailer.sent[0].payload).toEqual({ name: 'early' });
  });

  it('builds from forRootAsync with injected configuration', async () => {
    const CONFIG = Symbol('CONFIG');
    @Module({ providers: [{ provide: CONFIG, useValue: { serviceName: 'billing' } }], exports: [CONFIG] })
    class ConfigModule {}
    @Module({
      imports: [
        EventBrokerModule.forRootAsync({
          imports: [ConfigModule],
          inject: [CONFIG],
          useFactory: (config: { serviceName: string }) => ({ ...FAST, serviceName: config.serviceName }),
        }),
      ],
      providers: [WelcomeMailer],
    })
    class AsyncModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AsyncModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    await app.get(EventPublisher).publish('public.users.create', { name: 'x' });
    await waitFor(() => app.get(WelcomeMailer).sent.length === 1, 'handler ran');
    expect(Object.keys((await app.get(EventBroker).stats()).transport.groups)).toEqual(['billing.WelcomeMailer.send']);
  });
});

describe('@EmitsEvent and the request context', () => {
  @Injectable()
  class UsersService {
    private nextId = 1;
    @EmitsEvent('public.users.create')
    async create(name: string): Promise<{ id: number; name: string }> {
      return { id: this.nextId++, name };
    }

    @EmitsEvent('public.users.delete', { payload: (_result, [id]) => ({ id }), key: (_result, [id]) => `user-${String(id)}` })
    remove(id: number): boolean {
      return id > 0;
    }
  }

  @Controller('users')
  class UsersController {
    constructor(private readonly users: UsersService) {}
    @Post()
    create(@Body() body: { name: string }): Promise<{ id: number; name: string }> {
      return this.users.create(body.name);
    }
  }

  @Injectable()
  class Recorder {
    readonly events: BrokerEvent[] = [];
    @OnEvent('public.users.*')
    record(event: BrokerEvent): void {
      this.events.push(event);
    }
  }

  it('publishes the method result with the user and session of the HTTP request', async () => {
    const app = await boot([UsersService, Recorder], FAST, [UsersController]);
    const response = await request(app.getHttpServer())
      .post('/users')
      .set('x-user-id', 'u-42')
      .set('x-session-id', 's-9')
      .send({ name: 'Ada' });
    expect(response.status).toBe(201);
    const recorder = app.get(Recorder);
    await waitFor(() => recorder.events.length === 1, 'event recorded');
    expect(recorder.events[0]).toMatchObject({
      type: 'public.users.create',
      source: 'database',
      payload: { id: 1, name: 'Ada' },
      userId: 'u-42',
      sessionId: 's-9',
    });
  });

  it('uses the payload and key options and never fails or delays the call', async () => {
    const app = await boot([UsersService, Recorder]);
    expect(app.get(UsersService).remove(5)).toBe(true);
    const recorder = app.get(Recorder);
    await waitFor(() => recorder.events.length === 1, 'event recorded');
    expect(recorder.events[0]).toMatchObject({ type: 'public.users.delete', payload: { id: 5 }, key: 'user-5' });
    expect(recorder.events[0].userId).toBeUndefined();
  });

  it('rejects an invalid event type when the class is defined', () => {
    expect(() => {
      class Broken {
        @EmitsEvent('public users')
        run(): void {}
      }
      return Broken;
    }).toThrow(/@EmitsEvent on Broken\.run: invalid event type/);
  });
});
