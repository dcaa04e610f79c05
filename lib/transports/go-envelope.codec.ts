import type { BrokerEvent, EventMetadata, EventSource } from '../core/broker-event.interface.js';
import { createEvent } from '../core/create-event.js';
import { errorMessage } from '../core/error-message.js';
import { InvalidEventError } from '../core/event-broker.errors.js';
import { assertKnownOptions, type OptionNames } from '../core/known-options.js';
import type { EventCodec } from './event-codec.interface.js';
import { printable, quote } from '../core/quote-input.js';

export interface GoEnvelopeCodecOptions {
  /**
   * The schema the envelopes' types belong to: `user.created` read with schema `auth` is the event
   * type `auth.user.created`; an event type is written without it.
   */
  schema: string;
  /** Written as the envelope's `source` (default: the event's `origin` metadata, else its source). */
  service?: string;
  /** The source of events read (default `'system'`: another service, not a user, made them). */
  source?: EventSource;
}

/** The envelope fields the codec maps; every other scalar field travels as metadata. */
const ENVELOPE_FIELDS = new Set(['id', 'type', 'source', 'timestamp', 'data', 'user_id', 'session_id']);

const OPTION_NAMES: OptionNames<GoEnvelopeCodecOptions> = { schema: true, service: true, source: true };

function fail(problem: string, cause?: unknown): never {
  throw new InvalidEventError(`Malformed event envelope: ${problem}`, { cause });
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/**
 * The JSON envelope of the Go services' `pkg/events` (seed 001):
 * `{ id, type, source, organization_id, timestamp, schema_version, data }`, published on subjects
 * such as `auth.user.created`. Use it with the NATS transport's `subjectLayout: 'type'`.
 * `source` is kept as the `origin` metadata; `organization_id`, `schema_version` and other scalar
 * fields become metadata too, and are written back from it.
 */
export function goEnvelopeCodec(options: GoEnvelopeCodecOptions): EventCodec {
  assertKnownOptions('goEnvelopeCodec', options, OPTION_NAMES);
  const prefix = `${options.schema}.`;
  return {
    encode(event: BrokerEvent): string {
      if (!event.type.startsWith(prefix)) {
        throw new InvalidEventError(`Event type "${event.type}" cannot be written as a Go envelope of schema "${options.schema}"`);
      }
      const { origin, ...metadata } = event.metadata;
      const envelope: Record<string, unknown> = {
        schema_version: '1.0',
        ...metadata,
        id: event.id,
        type: event.type.slice(prefix.length),
        source: options.service ?? (origin === undefined ? event.source : String(origin)),
        timestamp: event.createdAt.toISOString(),
        data: event.payload,
      };
      if (event.userId !== undefined) envelope.user_id = event.userId;
      if (event.sessionId !== undefined) envelope.session_id = event.sessionId;
      return JSON.stringify(envelope);
    },

    decode(body: string): BrokerEvent {
      let envelope: unknown;
      try {
        envelope = JSON.parse(body);
      } catch (error) {
        fail(`not JSON (${printable(errorMessage(error))})`, error);
      }
      if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) fail('not a JSON object');
      const fields = envelope as Record<string, unknown>;
      if (typeof fields.id !== 'string' || fields.id === '') fail('id must be a non-empty string');
      if (typeof fields.type !== 'string' || fields.type === '') fail('type must be a non-empty string');
      if (typeof fields.source !== 'string') fail('source must be a string');
      const createdAt = new Date(String(fields.timestamp));
      if (Number.isNaN(createdAt.getTime())) fail(`timestamp ${quote(fields.timestamp)} is not an RFC 3339 time`);
      const { user_id: userId, session_id: sessionId } = fields;
      if (userId !== undefined && typeof userId !== 'string' && typeof userId !== 'number') fail('user_id must be a string or number');
      if (sessionId !== undefined && typeof sessionId !== 'string') fail('session_id must be a string');
      const metadata: EventMetadata = { origin: fields.source };
      for (const [name, value] of Object.entries(fields)) {
        if (!ENVELOPE_FIELDS.has(name) && isScalar(value)) metadata[name] = value;
      }
      try {
        return createEvent({
          id: fields.id,
          type: `${prefix}${fields.type}`,
          source: options.source ?? 'system',
          payload: fields.data === undefined ? null : fields.data,
          createdAt,
          userId,
          sessionId,
          instanceId: '',
          metadata,
        });
      } catch (error) {
        fail(errorMessage(error), error);
      }
    },
  };
}
