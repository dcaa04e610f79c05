import 'reflect-metadata';
import { Injectable, type INestApplication, type Type } from '@nestjs/common';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useTestApps } from '../support/test-apps.js';
import {
  EventBroker,
  EventBrokerHealthIndicator,
  EventBrokerMetricsController,
  EventBrokerModule,
  EventPublisher,
  OnEvent,
  type BrokerEvent,
  type EventBrokerModuleOptions,
} from '../../lib/index.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { TestRedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});

afterAll(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  exporter.reset();
});
// After-hooks run last-registered first: the apps close before the cleanups run.
const testApps = useTestApps();

function boot(options: EventBrokerModuleOptions, providers: Type[] = [], controllers: Type[] = []): Promise<INestApplication> {
  return testApps.boot({ imports: [EventBrokerModule.forRoot(options)], providers, controllers });
}

const FAST_RETRY = { initialDelayMs: 5, maxDelayMs: 10, jitter: 0 };

@Injectable()
class Mailer {
  readonly traceIds: string[] = [];

  @OnEvent('public.users.create', { group: 'mailer' })
  send(): void {
    this.traceIds.push(trace.getActiveSpan()?.spanContext().traceId ?? 'none');
  }

  @OnEvent('public.users.delete', { group: 'mailer-deletes', retry: { maxRetries: 0 } })
  refuse(): void {
    throw new Error('deletes are not mailed');
  }
}

describe('tracing', () => {
  it('links the consumer span in one process to the producer span in another, over Redis', async () => {
    const keyPrefix = uniquePrefix('tracing');
    cleanups.push(() => deleteKeys(keyPrefix));
    const redis = { url: REDIS_URL, keyPrefix, blockMs: 100 };
    const consumer = await boot({ transport: 'redis', redis, tracing: true, retry: FAST_RETRY }, [Mailer]);
    const producer = await boot({ transport: 'redis', redis, tracing: true, serviceName: 'api' });

    const published = await producer.get(EventPublisher).publish('public.users.create', { id: 1 });
    const failing = await producer.get(EventPublisher).publish('public.users.delete', { id: 1 });
    await waitFor(() => exporter.getFinishedSpans().filter((span) => span.name.startsWith('process')).length === 2, 'two consumer spans');

    const spans = exporter.getFinishedSpans();
    const find = (name: string, id: string): ReadableSpan => {
      const span = spans.find((candidate) => candidate.name === name && candidate.attributes['messaging.message.id'] === id);
      if (!span) throw new Error(`no span ${name} for ${id} among ${spans.map((candidate) => candidate.name).join(', ')}`);
      return span;
    };
    const publish = find('publish public.users.create', published.id);
    const process = find('process public.users.create', published.id);
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.spanContext().traceId).toBe(publish.spanContext().traceId);
    expect(process.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(process.attributes).toMatchObject({
      'messaging.system': 'redis',
      'messaging.destination.name': 'public.users.create',
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'mailer',
      'eventbroker.event.source': 'internal',
      'eventbroker.retry_count': 0,
    });
    expect(consumer.get(Mailer).traceIds).toEqual([publish.spanContext().traceId]);
    expect(published.metadata.traceparent).toMatch(
      new RegExp(`^00-${publish.spanContext().traceId}-${publish.spanContext().spanId}-0[01]$`),
    );

    const failed = find('process public.users.delete', failing.id);
    expect(failed.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'deletes are not mailed' });
    expect(failed.events.map((event) => event.name)).toContain('exception');
  });
});

describe('metrics', () => {
  @Injectable()
  class Flaky {
    private calls = new Map<number, number>();

    @OnEvent('public.orders.*', { retry: { maxRetries: 1 } })
    handle(event: BrokerEvent<{ n: number; fails: number }>): void {
      const calls = (this.calls.get(event.payload.n) ?? 0) + 1;
      this.calls.set(event.payload.n, calls);
      if (calls <= event.payload.fails) throw new Error(`failure ${calls}`);
    }
  }

  it('counts publishes and handler outcomes, times handlers and follows the pool', async () => {
    const registry = new Registry();
    const app = await boot({ metrics: { registry }, retry: FAST_RETRY }, [Flaky], [EventBrokerMetricsController]);
    const publisher = app.get(EventPublisher);
    const broker = app.get(EventBroker);
    const events = [
      await publisher.publish('public.orders.create', { n: 1, fails: 0 }, { source: 'database' }),
      await publisher.publish('public.orders.create', { n: 2, fails: 0 }, { source: 'database' }),
      await publisher.publish('public.orders.update', { n: 3, fails: 1 }, { source: 'database' }),
      await publisher.publish('public.orders.update', { n: 4, fails: 5 }, { source: 'database' }),
    ];
    await waitFor(async () => {
      const statuses = await Promise.all(events.map(async (event) => (await broker.transport.get(event.id))?.status));
      return statuses.every((status) => status === 'completed' || status === 'failed');
    }, 'all events settled');

    const value = async (name: string, labels: Record<string, string>): Promise<number> => {
      const metric = (await registry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
      const sample = metric?.values.find((candidate) => Object.entries(labels).every(([key, wanted]) => candidate.labels[key] === wanted));
      return sample?.value ?? 0;
    };
    expect(await value('eventbroker_events_published_total', { source: 'database', type: 'public.orders.create' })).toBe(2);
    expect(await value('eventbroker_events_published_total', { source: 'database', type: 'public.orders.update' })).toBe(2);
    expect(await value('eventbroker_events_processed_total', { type: 'public.orders.create', status: 'success' })).toBe(2);
    expect(await value('eventbroker_events_processed_total', { type: 'public.orders.update', status: 'success' })).toBe(1);
    expect(await value('eventbroker_events_processed_total', { type: 'public.orders.update', status: 'retry' })).toBe(2);
    expect(await value('eventbroker_events_processed_total', { type: 'public.orders.update', status: 'failed' })).toBe(1);
    expect(
      await value('eventbroker_event_processing_duration_seconds', { type: 'public.orders.update', le: '+Inf' } as Record<string, string>),
    ).toBe(4);
    expect(await value('eventbroker_queue_size', {})).toBe(0);
    expect(await value('eventbroker_workers_active', {})).toBe(0);

    const scrape = await request(app.getHttpServer()).get('/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.headers['content-type']).toContain('text/plain');
    expect(scrape.text).toContain('eventbroker_events_processed_total{source="database",type="public.orders.update",status="retry"} 2');
  });
});

describe('health', () => {
  it('goes down when the transport goes away or dead letters pile up, and up again', async () => {
    const server = await TestRedisServer.start();
    cleanups.push(() => server.stop());
    const app = await boot(
      { transport: 'redis', redis: { url: server.url, keyPrefix: uniquePrefix('health'), blockMs: 100 }, retry: FAST_RETRY },
      [Mailer],
    );
    const health = app.get(EventBrokerHealthIndicator);
    expect(await health.isHealthy()).toMatchObject({
      eventBroker: { status: 'up', transport: 'redis', reachable: true, subscriptions: 2 },
    });

    await app.get(EventPublisher).publish('public.users.delete', {});
    await waitFor(async () => (await health.isHealthy()).eventBroker.deadLetters === 1, 'a dead letter');
    expect((await health.isHealthy('eventBroker', { maxDeadLetters: 0 })).eventBroker).toMatchObject({
      status: 'down',
      reason: '1 dead letters, more than 0',
    });

    await server.kill();
    expect((await health.isHealthy('eventBroker', { timeoutMs: 300 })).eventBroker).toMatchObject({
      status: 'down',
      reachable: false,
      reason: 'the redis transport did not answer within 300 ms',
    });
    await server.restart();
    // The default time budget: a loaded machine may take more than 300 ms to answer once Redis is back.
    await waitFor(async () => (await health.isHealthy()).eventBroker.status === 'up', 'up again', 30_000);
  }, 60_000);
});
