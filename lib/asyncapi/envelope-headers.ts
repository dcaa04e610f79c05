import { EVENT_SOURCES } from '../core/broker-event.interface.js';
import type { JsonSchema } from './asyncapi-document.interface.js';

/** Where the envelope's schema is in `components.schemas`. */
export const ENVELOPE_SCHEMA_NAME = 'EventEnvelope';

/**
 * The envelope of every event, as the CloudEvents codec writes it beside the payload (`data`):
 * context attributes, this package's extensions, and metadata entries whose keys are attribute
 * names (`traceparent`, …) as extensions of their own.
 */
export const ENVELOPE_SCHEMA: JsonSchema = {
  type: 'object',
  description:
    'The CloudEvents 1.0 attributes of the event. On Redis and NATS they travel in the same JSON document as the payload (structured mode, the payload in data); PostgreSQL keeps them in columns of the events table.',
  required: ['specversion', 'id', 'source', 'type', 'time', 'datacontenttype'],
  properties: {
    specversion: { type: 'string', const: '1.0' },
    id: {
      type: 'string',
      minLength: 1,
      description: 'The event id (a UUID v4 for events this package creates); delivery and status are by id.',
    },
    source: { type: 'string', enum: [...EVENT_SOURCES] },
    type: { type: 'string', description: 'The event type: dot-separated segments, schema.entity.operation by convention.' },
    time: { type: 'string', format: 'date-time', description: 'When the event was created.' },
    datacontenttype: { type: 'string', const: 'application/json' },
    userid: { type: ['string', 'number'], description: 'The user the event was published for.' },
    sessionid: { type: 'string' },
    instanceid: { type: 'string', description: 'The broker instance that published the event.' },
    partitionkey: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'The event key (CloudEvents Partitioning extension): what the event is partitioned and ordered by; without one, its id.',
    },
    ebmetadata: { type: 'string', description: 'The metadata entries whose keys are not attribute names, as a JSON object in a string.' },
    traceparent: { type: 'string', description: 'W3C trace context of the publish, when tracing is on.' },
    tracestate: { type: 'string' },
  },
  additionalProperties: {
    type: ['string', 'number', 'boolean'],
    description: 'A metadata entry whose key is an attribute name (lower-case letters and digits).',
  },
};

/** The headers of the messages of `type`: the envelope, with that type. */
export function envelopeHeaders(type: string): JsonSchema {
  return {
    allOf: [{ $ref: `#/components/schemas/${ENVELOPE_SCHEMA_NAME}` }, { type: 'object', properties: { type: { const: type } } }],
  };
}
