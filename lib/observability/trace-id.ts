import type { EventMetadata } from '../core/broker-event.interface.js';

/** W3C trace context: version, trace id, parent span id, flags. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const INVALID_TRACE_ID = '0'.repeat(32);

/** The trace id of the publish span that `tracing` wrote into the event's metadata, if any. */
export function traceIdOf(metadata: EventMetadata): string | undefined {
  const match = TRACEPARENT.exec(String(metadata.traceparent ?? ''));
  return match && match[1] !== INVALID_TRACE_ID ? match[1] : undefined;
}
