import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { tap, type Observable } from 'rxjs';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import type { DeliveryInfo } from '../core/subscription.interface.js';
import { EventBrokerMetrics } from './event-broker-metrics.js';

/** Times each handler call and counts it as `success`, `retry` or `failed` (dead-lettered). */
@Injectable()
export class EventMetricsInterceptor implements NestInterceptor {
  constructor(private readonly metrics: EventBrokerMetrics) {}

  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const [event, delivery] = execution.getArgs<[BrokerEvent, DeliveryInfo | undefined]>();
    const labels = { source: event.source, type: event.type };
    const stopTimer = this.metrics.duration.startTimer(labels);
    return next.handle().pipe(
      tap({
        complete: () => {
          stopTimer();
          this.metrics.processed.inc({ ...labels, status: 'success' });
        },
        error: () => {
          stopTimer();
          const last = !delivery || delivery.attempt >= delivery.maxAttempts;
          this.metrics.processed.inc({ ...labels, status: last ? 'failed' : 'retry' });
        },
      }),
    );
  }
}
