import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from 'prom-client';
import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import type { PublishInterceptor } from '../core/event-broker-options.interface.js';
import type { EventBroker } from '../core/event-broker.js';
import type { DeliveryInfo } from '../core/subscription.interface.js';

export interface EventBrokerMetricsOptions {
  /** Where the metrics are registered (default: prom-client's default registry). */
  registry?: Registry;
  /** Buckets of the processing-duration histogram, in seconds. */
  buckets?: number[];
}

/** From 1 ms to 30 s: handlers range from an in-memory update to a slow remote call. */
export const DEFAULT_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The brokers whose pools the gauges of a registry follow (several apps may share a registry). */
const trackedBrokers = new WeakMap<Registry, Set<EventBroker>>();

function brokersOf(registry: Registry): Set<EventBroker> {
  let brokers = trackedBrokers.get(registry);
  if (!brokers) trackedBrokers.set(registry, (brokers = new Set()));
  return brokers;
}

/** The metric already in `registry` under `name` (another app of this process made it), or a new one. */
function metric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** The published, processed, duration, queue and worker metrics, in the app's registry. */
export class EventBrokerMetrics {
  readonly registry: Registry;
  readonly published: Counter<'source' | 'type'>;
  readonly processed: Counter<'source' | 'type' | 'status'>;
  readonly duration: Histogram<'source' | 'type'>;

  constructor(options: EventBrokerMetricsOptions = {}) {
    const registry = (this.registry = options.registry ?? defaultRegistry);
    const registers = [registry];
    this.published = metric(
      registry,
      'eventbroker_events_published_total',
      () =>
        new Counter({ name: 'eventbroker_events_published_total', help: 'Events published', labelNames: ['source', 'type'], registers }),
    );
    this.processed = metric(
      registry,
      'eventbroker_events_processed_total',
      () =>
        new Counter({
          name: 'eventbroker_events_processed_total',
          help: 'Handler calls by outcome: success, retry (failed, will be retried) or failed (dead-lettered)',
          labelNames: ['source', 'type', 'status'],
          registers,
        }),
    );
    this.duration = metric(
      registry,
      'eventbroker_event_processing_duration_seconds',
      () =>
        new Histogram({
          name: 'eventbroker_event_processing_duration_seconds',
          help: 'Duration of handler calls',
          labelNames: ['source', 'type'],
          buckets: options.buckets ?? DEFAULT_DURATION_BUCKETS,
          registers,
        }),
    );
    const brokers = brokersOf(registry);
    const sum = (read: (broker: EventBroker) => number): number => [...brokers].reduce((total, broker) => total + read(broker), 0);
    metric(
      registry,
      'eventbroker_queue_size',
      () =>
        new Gauge({
          name: 'eventbroker_queue_size',
          help: 'Deliveries taken from the transport, waiting for a free worker',
          registers,
          collect() {
            this.set(sum((broker) => broker.queueSize));
          },
        }),
    );
    metric(
      registry,
      'eventbroker_workers_active',
      () =>
        new Gauge({
          name: 'eventbroker_workers_active',
          help: 'Handlers running',
          registers,
          collect() {
            this.set(sum((broker) => broker.activeWorkers));
          },
        }),
    );
  }

  /** Counts published events, once the transport has accepted them. */
  readonly countPublish: PublishInterceptor = async (event, publish) => {
    await publish();
    this.published.inc({ source: event.source, type: event.type });
  };

  /** Times a handler call and counts it as `success`, `retry` or `failed` (dead-lettered). */
  countProcessing<T>(event: BrokerEvent, delivery: DeliveryInfo | undefined): MonoTypeOperatorFunction<T> {
    const labels = { source: event.source, type: event.type };
    const stopTimer = this.duration.startTimer(labels);
    return tap({
      complete: () => {
        stopTimer();
        this.processed.inc({ ...labels, status: 'success' });
      },
      error: () => {
        stopTimer();
        const last = !delivery || delivery.attempt >= delivery.maxAttempts;
        this.processed.inc({ ...labels, status: last ? 'failed' : 'retry' });
      },
    });
  }

  /** Makes the gauges follow `broker`'s worker pool. */
  track(broker: EventBroker): void {
    brokersOf(this.registry).add(broker);
  }

  untrack(broker: EventBroker): void {
    brokersOf(this.registry).delete(broker);
  }
}
