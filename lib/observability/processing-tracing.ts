import { errorMessage } from '../core/error-message.js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import { Observable } from 'rxjs';
import type { BrokerEvent, EventMetadata } from '../core/broker-event.interface.js';
import type { DeliveryInfo } from '../core/subscription.interface.js';
import { ATTRIBUTES, TRACER_NAME } from './tracing.constants.js';

const metadataGetter: TextMapGetter<EventMetadata> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    return value === undefined ? undefined : String(value);
  },
};

/**
 * `handling` inside a `process <type>` consumer span, child of the publisher's span (its trace
 * context travels in the event's metadata), with messaging attributes; an error is recorded on
 * the span. The handler runs with the span active. A no-op until the app registers an SDK.
 */
export function traceProcessing<T>(event: BrokerEvent, delivery: DeliveryInfo | undefined, handling: () => Observable<T>): Observable<T> {
  const parent = propagation.extract(ROOT_CONTEXT, event.metadata, metadataGetter);
  const span = trace.getTracer(TRACER_NAME).startSpan(
    `process ${event.type}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        [ATTRIBUTES.system]: delivery?.transport ?? 'unknown',
        [ATTRIBUTES.destination]: event.type,
        [ATTRIBUTES.operationType]: 'process',
        [ATTRIBUTES.operationName]: 'process',
        [ATTRIBUTES.messageId]: event.id,
        [ATTRIBUTES.consumerGroup]: delivery?.group ?? '',
        [ATTRIBUTES.eventType]: event.type,
        [ATTRIBUTES.eventSource]: event.source,
        [ATTRIBUTES.retryCount]: event.retryCount,
      },
    },
    parent,
  );
  const active = trace.setSpan(parent, span);
  return new Observable<T>((subscriber) =>
    context.with(active, () =>
      handling().subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => {
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
          span.end();
          subscriber.error(error);
        },
        complete: () => {
          span.end();
          subscriber.complete();
        },
      }),
    ),
  );
}
