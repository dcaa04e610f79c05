import { randomUUID } from 'node:crypto';
import { EVENT_SOURCES, type BrokerEvent, type EventMetadata, type EventSource } from './broker-event.interface.js';
import { InvalidEventError } from './event-broker.errors.js';
import { assertEventType, cachedEventTypeParts } from './event-type.js';
import { quote } from './quote-input.js';

export interface CreateEventInput<T = unknown> {
  type: string;
  payload: T;
  /** Defaults to `'internal'`. */
  source?: EventSource;
  userId?: string | number;
  sessionId?: string;
  /** What the event is partitioned and ordered by (an order id, an account id…): 1 to 256 characters. */
  key?: string;
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

/** A key longer than this is refused: it travels with every copy of the event, and into every index of keys. */
export const MAX_EVENT_KEY_LENGTH = 256;

/** Control characters would garble the logs and indexes a key ends up in (PostgreSQL refuses \u0000 in text). */
const CONTROL_CHARACTER = /\p{Cc}/u;

export function isEventKey(key: unknown): key is string {
  return typeof key === 'string' && key.length > 0 && key.length <= MAX_EVENT_KEY_LENGTH && !CONTROL_CHARACTER.test(key);
}

export function assertEventKey(key: unknown): asserts key is string {
  if (!isEventKey(key)) {
    throw new InvalidEventError(
      `Invalid event key ${quote(key)}: must be a string of 1 to ${MAX_EVENT_KEY_LENGTH} characters without control characters`,
    );
  }
}

function assertMetadata(metadata: EventMetadata): void {
  for (const key in metadata) {
    const kind = typeof metadata[key];
    if (kind !== 'string' && kind !== 'number' && kind !== 'boolean') {
      throw new InvalidEventError(`Invalid event metadata: metadata.${key} must be a string, number or boolean, got ${kind}`);
    }
  }
}

/**
 * A new UUID v4 as one flat string. `randomUUID` builds it from some twenty concatenations, a tree
 * of strings that takes ten times the room of the id and that the garbage collector walks for as
 * long as a history keeps the event; reading a character makes V8 flatten the tree.
 */
function newEventId(): string {
  const id = randomUUID();
  id.charCodeAt(0);
  return id;
}

/** Builds a `pending` event from its parts, checking the type, source, key and metadata. */
export function createEvent<T>(input: CreateEventInput<T>): BrokerEvent<T> {
  assertEventType(input.type);
  const source = input.source ?? 'internal';
  assertEventSource(source);
  if (input.key !== undefined) assertEventKey(input.key);
  const metadata = { ...input.metadata };
  assertMetadata(metadata);
  const { schema, entity, operation } = cachedEventTypeParts(input.type);
  const event: BrokerEvent<T> = {
    id: input.id ?? newEventId(),
    source,
    type: input.type,
    status: 'pending',
    payload: input.payload,
    instanceId: input.instanceId ?? '',
    createdAt: input.createdAt ?? new Date(),
    metadata,
    retryCount: 0,
  };
  if (schema !== undefined) event.schema = schema;
  if (entity !== undefined) event.entity = entity;
  if (operation !== undefined) event.operation = operation;
  if (input.userId !== undefined) event.userId = input.userId;
  if (input.sessionId !== undefined) event.sessionId = input.sessionId;
  if (input.key !== undefined) event.key = input.key;
  return event;
}
