import { BadRequestException } from '@nestjs/common';
import type { DeadLetterFilter } from '../core/dead-letter-store.interface.js';
import type { EventFilter } from '../core/event-history.interface.js';

/** Query parameters as the platform parses them (Express, Fastify): a string, or several for a repeated name. */
export type DashboardQuery = Record<string, unknown>;

const COUNT = /^\d+$/;
const HISTORY_PARAMETERS = ['type', 'source', 'status', 'instanceId', 'userId', 'since', 'until', 'limit', 'offset'] as const;
const DEAD_LETTER_PARAMETERS = ['group', 'limit', 'offset'] as const;

function refuse(message: string): never {
  throw new BadRequestException(message);
}

function assertKnown(query: DashboardQuery, known: readonly string[]): void {
  const unknown = Object.keys(query).filter((name) => !known.includes(name));
  if (unknown.length > 0) refuse(`Unknown query parameter ${unknown.join(', ')} (known: ${known.join(', ')})`);
}

/** The parameter's value; an empty one (a blank field of the page's form) is no filter. */
function text(query: DashboardQuery, name: string): string | undefined {
  const value = query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') refuse(`${name} must be given once`);
  return value;
}

function count(query: DashboardQuery, name: string): number | undefined {
  const value = text(query, name);
  if (value === undefined) return undefined;
  if (!COUNT.test(value) || !Number.isSafeInteger(Number(value)))
    refuse(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

function date(query: DashboardQuery, name: string): Date | undefined {
  const value = text(query, name);
  return value === undefined ? undefined : new Date(value);
}

/**
 * The `list` filter of `GET <path>/api/events`. Values are passed on as given: `list` itself refuses a
 * status, source, pattern or date that could match nothing, with a message naming the allowed values.
 */
export function historyFilter(query: DashboardQuery): EventFilter {
  assertKnown(query, HISTORY_PARAMETERS);
  return {
    type: text(query, 'type'),
    source: text(query, 'source') as EventFilter['source'],
    status: text(query, 'status') as EventFilter['status'],
    instanceId: text(query, 'instanceId'),
    userId: text(query, 'userId'),
    since: date(query, 'since'),
    until: date(query, 'until'),
    limit: count(query, 'limit'),
    offset: count(query, 'offset'),
  };
}

/** The filter of `GET <path>/api/dead-letters`. */
export function deadLetterFilter(query: DashboardQuery): DeadLetterFilter {
  assertKnown(query, DEAD_LETTER_PARAMETERS);
  return { group: text(query, 'group'), limit: count(query, 'limit'), offset: count(query, 'offset') };
}

/** The pattern of `GET <path>/api/stream?pattern=`: every event when none is given. */
export function tailPattern(query: DashboardQuery): string {
  assertKnown(query, ['pattern']);
  return text(query, 'pattern') ?? '**';
}

/** The body of `POST <path>/api/dead-letters/replay`: `{ "ids": ["…", …] }`. */
export function replayIds(body: unknown): string[] {
  const ids = (body as { ids?: unknown } | undefined)?.ids;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string' && id !== ''))
    refuse('The body must be JSON of the form {"ids": ["<dead letter id>", …]}, with at least one id');
  return ids;
}
