import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';
import { EVENT_SOURCES, EVENT_STATUSES, type EventFilter, type EventSource, type EventStatus } from 'nestjs-event-broker';

/** `GET /events` query parameters, as Express parses them. */
export type EventListQuery = Record<string, string | string[] | undefined>;

const COUNT = /^\d+$/;
const DATE_EXAMPLE = '2026-01-31T12:00:00Z';

function refuse(message: string): never {
  throw new BadRequestException(message);
}

function single(query: EventListQuery, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) refuse(`${name} must be given once`);
  return value;
}

function oneOf<T extends string>(query: EventListQuery, name: string, allowed: readonly T[]): T | undefined {
  const value = single(query, name);
  if (value !== undefined && !(allowed as readonly string[]).includes(value))
    refuse(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T | undefined;
}

function date(query: EventListQuery, name: string): Date | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) refuse(`${name} must be a date such as ${DATE_EXAMPLE}, got ${JSON.stringify(value)}`);
  return parsed;
}

function count(query: EventListQuery, name: string): number | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  if (!COUNT.test(value) || !Number.isSafeInteger(Number(value)))
    refuse(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** The history filter of `GET /events?type=&source=&status=&user=&since=&until=&limit=&offset=`; a bad value is a 400 naming it. */
@Injectable()
export class EventFilterPipe implements PipeTransform<EventListQuery, EventFilter> {
  transform(query: EventListQuery): EventFilter {
    return {
      type: single(query, 'type'),
      source: oneOf<EventSource>(query, 'source', EVENT_SOURCES),
      status: oneOf<EventStatus>(query, 'status', EVENT_STATUSES),
      userId: single(query, 'user'),
      since: date(query, 'since'),
      until: date(query, 'until'),
      limit: count(query, 'limit'),
      offset: count(query, 'offset'),
    };
  }
}
