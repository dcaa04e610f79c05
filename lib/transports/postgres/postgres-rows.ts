import { payloadJsonOf } from '../../core/payload-validation.js';
import type { BrokerEvent, EventMetadata, EventSource, EventStatus } from '../../core/broker-event.interface.js';
import { parseEventType } from '../../core/event-type.js';

/** A row of the `event_history` view as `pg` returns it. */
export interface EventRow {
  id: string;
  source: EventSource;
  type: string;
  status: EventStatus;
  payload: unknown;
  user_id: string | null;
  user_id_is_number: boolean;
  session_id: string | null;
  key: string | null;
  instance_id: string;
  metadata: EventMetadata;
  created_at: Date;
  processed_at: Date | null;
  completed_at: Date | null;
  error: string | null;
  retry_count: number;
}

/** The columns a publish writes. */
export const EVENT_COLUMNS = [
  'id',
  'source',
  'type',
  'payload',
  'user_id',
  'user_id_is_number',
  'session_id',
  'key',
  'instance_id',
  'metadata',
  'created_at',
  'skip_groups',
] as const;

/** The values a publish writes, in the order of `EVENT_COLUMNS`. */
export function eventValues(event: BrokerEvent, skipGroups: readonly string[]): unknown[] {
  return [
    event.id,
    event.source,
    event.type,
    payloadJsonOf(event),
    event.userId === undefined ? null : String(event.userId),
    typeof event.userId === 'number',
    event.sessionId ?? null,
    event.key ?? null,
    event.instanceId,
    JSON.stringify(event.metadata),
    event.createdAt,
    [...skipGroups],
  ];
}

/** The columns of a claimed delivery's event: what it was published with, from `events` as `e`. */
export const CLAIMED_COLUMNS = EVENT_COLUMNS.filter((column) => column !== 'skip_groups')
  .map((column) => `e.${column}`)
  .join(', ');

/** A claimed delivery: its event's columns and the attempt it is. */
export type ClaimedRow = Omit<EventRow, 'status' | 'processed_at' | 'completed_at' | 'error' | 'retry_count'> & { attempts: number };

/** The event of a claimed delivery, as its handler gets it. */
export function claimedEvent(row: ClaimedRow): BrokerEvent {
  return rowEvent({ ...row, status: 'processing', processed_at: null, completed_at: null, error: null, retry_count: row.attempts - 1 });
}

export function rowEvent(row: EventRow): BrokerEvent {
  const event: BrokerEvent = {
    id: row.id,
    source: row.source,
    type: row.type,
    status: row.status,
    payload: row.payload,
    instanceId: row.instance_id,
    ...parseEventType(row.type),
    createdAt: row.created_at,
    metadata: row.metadata,
    retryCount: row.retry_count,
  };
  if (row.user_id !== null) event.userId = row.user_id_is_number ? Number(row.user_id) : row.user_id;
  if (row.session_id !== null) event.sessionId = row.session_id;
  if (row.key !== null) event.key = row.key;
  if (row.processed_at) event.processedAt = row.processed_at;
  if (row.completed_at) event.completedAt = row.completed_at;
  if (row.error !== null) event.error = row.error;
  return event;
}
