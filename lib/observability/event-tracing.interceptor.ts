import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import type { DeliveryInfo } from '../core/subscription.interface.js';
import { traceProcessing } from './processing-tracing.js';

/** A `process <type>` consumer span around each `@OnEvent` handler call (see `traceProcessing`). */
@Injectable()
export class EventTracingInterceptor implements NestInterceptor {
  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const [event, delivery] = execution.getArgs<[BrokerEvent, DeliveryInfo | undefined]>();
    return traceProcessing(event, delivery, () => next.handle());
  }
}
