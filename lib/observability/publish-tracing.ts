import { errorMessage } from '../core/error-message.js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { PublishInterceptor } from '../core/event-broker-options.interface.js';
import { ATTRIBUTES, TRACER_NAME } from './tracing.constants.js';

/**
 * A `publish <type>` producer span around every publish; the W3C trace context of that span
 * (`traceparent`, `tracestate`) is written into the event's metadata, which travels as
 * CloudEvents extension attributes. A no-op until the app registers an OpenTelemetry SDK.
 */
export const tracePublish: PublishInterceptor = (event, publish, transport) =>
  trace.getTracer(TRACER_NAME).startActiveSpan(
    `publish ${event.type}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        [ATTRIBUTES.system]: transport,
        [ATTRIBUTES.destination]: event.type,
        [ATTRIBUTES.operationType]: 'publish',
        [ATTRIBUTES.operationName]: 'publish',
        [ATTRIBUTES.messageId]: event.id,
        [ATTRIBUTES.eventType]: event.type,
        [ATTRIBUTES.eventSource]: event.source,
      },
    },
    async (span) => {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      Object.assign(event.metadata, carrier);
      try {
        await publish();
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
        throw error;
      } finally {
        span.end();
      }
    },
  );
