import { EVENT_SOURCES, EVENT_STATUSES, type BrokerEvent } from '../core/broker-event.interface.js';
import { InvalidEventError } from '../core/event-broker.errors.js';
import { assertPattern, matchPattern } from '../core/match-pattern.js';
import { assertKnownOptions, type OptionNames } from '../core/known-options.js';
import { quote } from '../core/quote-input.js';
import type { EventFilter } from '../core/event-history.interface.js';

export const DEFAULT_LIST_LIMIT = 100;

const FILTER_NAMES: OptionNames<EventFilter> = {
  source: true,
  type: true,
  status: true,
  instanceId: true,
  userId: true,
  since: true,
  until: true,
  limit: true,
  offset: true,
};

function invalid(problem: string): never {
  throw new InvalidEventError(`Invalid event filter: ${problem}`);
}

function assertCount(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0))
    invalid(`${name} must be a non-negative integer, got ${quote(value)}`);
}

function assertOneOf(name: string, allowed: readonly string[], value: string | undefined): void {
  if (value !== undefined && !allowed.includes(value)) invalid(`${name} must be one of ${allowed.join(', ')}, got ${quote(value)}`);
}

function assertDate(name: string, value: Date | undefined): void {
  if (value !== undefined && !(value instanceof Date && !Number.isNaN(value.getTime())))
    invalid(`${name} must be a valid Date, got ${value instanceof Date ? 'an invalid Date' : quote(value)}`);
}

/** Checks every field of the filter, so every transport rejects the same bad filters instead of matching nothing. */
export function assertEventFilter(filter: EventFilter): void {
  assertKnownOptions('event filter', filter, FILTER_NAMES);
  if (filter.type !== undefined) assertPattern(filter.type);
  assertOneOf('status', EVENT_STATUSES, filter.status);
  assertOneOf('source', EVENT_SOURCES, filter.source);
  assertDate('since', filter.since);
  assertDate('until', filter.until);
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
