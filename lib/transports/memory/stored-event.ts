import { klona } from 'klona/json';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { jsonFormPayload } from '../../core/payload-validation.js';

/**
 * An event in the history, its status kept in place, with how the groups it was routed to have
 * fared. Its payload is the one copy this transport keeps: never handed out, so never changed;
 * whoever reads the event gets a copy of its own.
 */
export interface StoredEvent {
  /** The event, its status, error and retry count kept up to date; no `processedAt` or `completedAt` here. */
  readonly event: BrokerEvent;
  /** When its first delivery began, in ms: a number, not a `Date`, costs little to keep for many events. */
  processedAt: number | undefined;
  /** When the last group it was routed to settled it, in ms. */
  completedAt: number | undefined;
  /** Groups that have neither acked nor dead-lettered it. */
  unsettled: number;
  /** Groups that dead-lettered it and were not replayed. */
  failed: number;
}

/**
 * A copy of the published fields of `event` with `payload`, the given status and retry count, that
 * shares no mutable object with it. Built field by field, so that every copy has the same shape:
 * the hot path stays monomorphic.
 */
function copyEvent(event: BrokerEvent, payload: unknown, status: EventStatus, retryCount: number): BrokerEvent {
  const copy: BrokerEvent = {
    id: event.id,
    source: event.source,
    type: event.type,
    status,
    payload,
    instanceId: event.instanceId,
    createdAt: new Date(event.createdAt.getTime()),
    metadata: { ...event.metadata },
    retryCount,
  };
  if (event.userId !== undefined) copy.userId = event.userId;
  if (event.sessionId !== undefined) copy.sessionId = event.sessionId;
  if (event.schema !== undefined) copy.schema = event.schema;
  if (event.entity !== undefined) copy.entity = event.entity;
  if (event.operation !== undefined) copy.operation = event.operation;
  return copy;
}

/** `copy` with the outcome so far of `stored`: its error, and its times as `Date`s of its own. */
function withOutcome(copy: BrokerEvent, { event, processedAt, completedAt }: StoredEvent): BrokerEvent {
  if (processedAt !== undefined) copy.processedAt = new Date(processedAt);
  if (completedAt !== undefined) copy.completedAt = new Date(completedAt);
  if (event.error !== undefined) copy.error = event.error;
  return copy;
}

function record(event: BrokerEvent, payload: unknown, processedAt: number | undefined, completedAt: number | undefined): StoredEvent {
  const copy = copyEvent(event, payload, event.status, event.retryCount);
  if (event.error !== undefined) copy.error = event.error;
  return { event: copy, processedAt, completedAt, unsettled: 0, failed: 0 };
}

/**
 * What the history keeps of a published event: its payload as JSON carries it, apart from the
 * object the publisher holds (a payload the broker admitted is copied, without a JSON round trip).
 */
export function storeEvent(event: BrokerEvent): StoredEvent {
  return record(event, jsonFormPayload(event), event.processedAt?.getTime(), event.completedAt?.getTime());
}

/** Another record of the same event as it is now (a dead letter's), sharing the payload nobody changes. */
export function recordOf({ event, processedAt, completedAt }: StoredEvent): StoredEvent {
  return record(event, event.payload, processedAt, completedAt);
}

/** The event as a reader (`get`, `list`, the live tail) gets it: a copy of its own. */
export function readEvent(stored: StoredEvent): BrokerEvent {
  const { event } = stored;
  return withOutcome(copyEvent(event, klona(event.payload), event.status, event.retryCount), stored);
}

/**
 * The event as one delivery's handler gets it, as a durable transport hands it over: a copy of its
 * own of the event as published, `processing`, `retryCount` from the attempt, without what other
 * groups made of it meanwhile (the copy is made when the handler is about to run).
 */
export function deliveredEvent(stored: StoredEvent, attempt: number): BrokerEvent {
  return copyEvent(stored.event, klona(stored.event.payload), 'processing', attempt - 1);
}
