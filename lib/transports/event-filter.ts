import type { BrokerEvent } from '../core/broker-event.interface.js';
import { InvalidEventError } from '../core/event-broker.errors.js';
import { assertPattern, matchPattern } from '../core/match-pattern.js';
import type { EventFilter } from './event-transport.interface.js';

export const DEFAULT_LIST_LIMIT = 100;

function assertCount(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
    throw new InvalidEventError(`Invalid event filter: ${name} must be a non-negative integer, got ${value}`);
  }
}

/** Checks the filter's pattern and counts, so every transport rejects the same bad filters. */
export function assertEventFilter(filter: EventFilter): void {
  if (filter.type !== undefined) assertPattern(filter.type);
  assertCount('limit', filter.limit);
  assertCount('offset', filter.offset);
}

export function matchesFilter(event: BrokerEvent, filter: EventFilter): boolean {
  return (
    (filter.source === undefined || event.source === filter.source) &&
    (filter.type === undefined || matchPattern(filter.type, event.type)) &&
    (filter.status === undefined || event.status === filter.status) &&
    (filter.instanceId === undefined || event.instanceId === filter.instanceId) &&
    (filter.userId === undefined || (event.userId !== undefined && String(event.userId) === String(filter.userId))) &&
    (filter.since === undefined || event.createdAt >= filter.since) &&
    (filter.until === undefined || event.createdAt <= filter.until)
  );
}

/** The `limit` newest of `matches` (ordered oldest first) after skipping the `offset` newest. */
export function newestWindow<T>(matches: readonly T[], filter: { limit?: number; offset?: number }): T[] {
  const end = matches.length - (filter.offset ?? 0);
  const start = Math.max(0, end - (filter.limit ?? DEFAULT_LIST_LIMIT));
  return end <= 0 ? [] : matches.slice(start, end);
}
