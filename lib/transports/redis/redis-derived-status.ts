import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import { matchAnyPattern } from '../../core/match-pattern.js';
import { Progress, type GroupState, type HistoryPage, type StatusOverride } from './redis-history-page.js';
import { compareIds, idTime } from './redis-stream-ids.js';

/** Where one (event, group) pair is. */
interface PairStatus {
  status: 'pending' | 'processing' | 'done' | 'failed';
  processedAt?: number;
  completedAt?: number;
  retryCount: number;
  error?: string;
}

const NO_STATE: GroupState = { pending: new Map(), delivered: new Progress([], []), acked: new Progress([], []) };

/**
 * A pair its group's consumers read: failed while its dead letter stands, processing while it is
 * pending in the group (its delivery count is its attempt), done once the group delivered it and
 * it is no longer pending, pending before. A replayed pair is where the entry that replays it is.
 */
function consumedPair(entryId: string, group: string, page: HistoryPage, now: number): PairStatus {
  const own = page.groups.get(group) ?? NO_STATE;
  const replay = page.replays.get(`${entryId} ${group}`);
  const target = replay?.target ?? entryId;
  const state = replay?.state ?? own;
  const outcome = replay ? replay.outcome : page.outcomes.get(entryId)?.[group];
  const read = own.delivered.reached(entryId);
  const retries = outcome?.retries ?? 0;
  if (outcome?.error !== undefined) {
    return { status: 'failed', error: outcome.error, retryCount: Math.max(0, (outcome.attempts ?? 1) - 1), processedAt: read };
  }
  const pending = state.pending.get(target);
  if (pending)
    return { status: 'processing', processedAt: read ?? now - pending.idleMs, retryCount: Math.max(retries, pending.deliveries - 1) };
  if (state.position !== undefined && compareIds(target, state.position) <= 0) {
    return { status: 'done', processedAt: read, completedAt: state.acked.reached(target), retryCount: retries };
  }
  return { status: 'pending', retryCount: retries };
}

/**
 * A pair the publisher handled inline (sync mode): its group's consumers pass the entry by, so it
 * is done once the publisher acked it (the group's acks reached the entry), failed once it
 * dead-lettered it, processing meanwhile.
 */
function inlinePair(entryId: string, group: string, page: HistoryPage, now: number): PairStatus {
  if (page.replays.has(`${entryId} ${group}`)) return consumedPair(entryId, group, page, now);
  const published = idTime(entryId);
  const outcome = page.outcomes.get(entryId)?.[group];
  if (outcome?.error !== undefined) {
    return { status: 'failed', error: outcome.error, retryCount: Math.max(0, (outcome.attempts ?? 1) - 1), processedAt: published };
  }
  const acked = (page.groups.get(group) ?? NO_STATE).acked.reached(entryId);
  if (acked !== undefined) return { status: 'done', processedAt: published, completedAt: acked, retryCount: 0 };
  return { status: 'processing', processedAt: published, retryCount: 0 };
}

function earliest(times: (number | undefined)[]): number | undefined {
  const known = times.filter((time): time is number => time !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}

interface Derived {
  status: EventStatus;
  processedAt?: number;
  completedAt?: number;
  error?: string;
  retryCount: number;
}

/**
 * The event's status over the groups it was routed to: those registered before it (or from the
 * beginning) whose patterns match its type, and the groups the publisher handled inline.
 */
function derive(event: BrokerEvent, entryId: string, skip: readonly string[], page: HistoryPage, now: number): Derived {
  const pairs: PairStatus[] = [];
  for (const { name, patterns, start } of page.registry) {
    if (skip.includes(name) || compareIds(entryId, start) <= 0 || !matchAnyPattern(patterns, event.type)) continue;
    pairs.push(consumedPair(entryId, name, page, now));
  }
  for (const group of skip) pairs.push(inlinePair(entryId, group, page, now));
  const stored = idTime(entryId);
  if (pairs.length === 0) return { status: 'completed', completedAt: stored, retryCount: 0 };
  const retryCount = Math.max(...pairs.map((pair) => pair.retryCount));
  const started = pairs.filter((pair) => pair.status !== 'pending');
  const processedAt = earliest(started.map((pair) => pair.processedAt));
  const failed = pairs.find((pair) => pair.status === 'failed');
  if (failed) return { status: 'failed', error: failed.error, processedAt, retryCount };
  if (pairs.every((pair) => pair.status === 'done')) {
    const began = processedAt ?? stored;
    return {
      status: 'completed',
      processedAt: began,
      completedAt: Math.max(began, ...pairs.map((pair) => pair.completedAt ?? began)),
      retryCount,
    };
  }
  if (started.length > 0) return { status: 'processing', processedAt: processedAt ?? now, retryCount };
  return { status: 'pending', retryCount };
}

/** `updateStatus` on top of the derived status: a status it set drops the timestamps that do not belong to it. */
function overridden(derived: Derived, override: StatusOverride | undefined): Derived {
  if (!override) return derived;
  const result = { ...derived };
  if (override.status !== undefined) {
    result.status = override.status;
    if (override.status !== 'completed') result.completedAt = undefined;
    if (override.status === 'pending') result.processedAt = undefined;
  }
  if (override.error !== undefined) result.error = override.error;
  if (override.processedAt !== undefined) result.processedAt = override.processedAt;
  if (override.completedAt !== undefined) result.completedAt = override.completedAt;
  return result;
}

/** Sets the status, its timestamps, error and retry count of `event`, read from the entry `entryId` of `page`. */
export function applyDerivedStatus(event: BrokerEvent, entryId: string, skip: readonly string[], page: HistoryPage, now: number): void {
  const { status, processedAt, completedAt, error, retryCount } = overridden(
    derive(event, entryId, skip, page, now),
    page.overrides.get(entryId),
  );
  event.status = status;
  event.retryCount = retryCount;
  if (error !== undefined) event.error = error;
  if (processedAt !== undefined) event.processedAt = new Date(processedAt);
  if (completedAt !== undefined) event.completedAt = new Date(completedAt);
}
