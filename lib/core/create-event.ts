import { randomUUID } from 'node:crypto';
import { EVENT_SOURCES, type BrokerEvent, type EventMetadata, type EventSource } from './broker-event.interface.js';
import { InvalidEventError } from './event-broker.errors.js';
import { assertEventType, parseEventType } from './event-type.js';
import { quote } from './quote-input.js';

export interface CreateEventInput<T = unknown> {
  type: string;
  payload: T;
  /** Defaults to `'internal'`. */
  source?: EventSource;
  userId?: string | number;
  sessionId?: string;
  metadata?: EventMetadata;
  /** Set by the publishing broker when left out. */
  instanceId?: string;
  /** Defaults to a new UUID v4; give one to make a publish idempotent. */
  id?: string;
  createdAt?: Date;
}

export function assertEventSource(source: unknown): asserts source is EventSource {
  if (!(EVENT_SOURCES as readonly unknown[]).includes(source)) {
    throw new InvalidEventError(`Invalid event source ${quote(source)}: must be one of ${EVENT_SOURCES.join(', ')}`);
  }
}

function assertMetadata(metadata: EventMetadata): void {
  for (const [key, value] of Object.entries(metadata)) {
    if (!['string', 'number', 'boolean'].includes(typeof value)) {
      throw new InvalidEventError(`Invalid event metadata: metadata.${key} must be a string, number or boolean, got ${typeof value}`);
    }
  }
}

/** Builds a `pending` event from its parts, checking the type, source and metadata. */
export function createEvent<T>(input: CreateEventInput<T>): BrokerEvent<T> {
  assertEventType(input.type);
  const source = input.source ?? 'internal';
  assertEventSource(source);
  const metadata = { ...input.metadata };
  assertMetadata(metadata);
  const event: BrokerEvent<T> = {
    id: input.id ?? randomUUID(),
    source,
    type: input.type,
    status: 'pending',
    payload: input.payload,
    instanceId: input.instanceId ?? '',
    ...parseEventType(input.type),
    createdAt: input.createdAt ?? new Date(),
    metadata,
    retryCount: 0,
  };
  if (input.userId !== undefined) event.userId = input.userId;
  if (input.sessionId !== undefined) event.sessionId = input.sessionId;
  return event;
}
