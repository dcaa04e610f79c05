import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import type { DeliveryInfo } from '../core/subscription.interface.js';
import { EventBrokerMetrics } from './event-broker-metrics.js';

/** Times each `@OnEvent` handler call and counts its outcome (see `EventBrokerMetrics.countProcessing`). */
@Injectable()
export class EventMetricsInterceptor implements NestInterceptor {
  constructor(private readonly metrics: EventBrokerMetrics) {}

  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const [event, delivery] = execution.getArgs<[BrokerEvent, DeliveryInfo | undefined]>();
    return next.handle().pipe(this.metrics.countProcessing(event, delivery));
  }
}
