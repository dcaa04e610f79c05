import type { EventStatus } from '../../core/broker-event.interface.js';
import type { StreamEntry } from './redis-stream-entry.js';
import { compareIds } from './redis-stream-ids.js';

/** A pending entry of a group: how long since it was last delivered, and how often it was. */
export interface PendingEntry {
  idleMs: number;
  deliveries: number;
}

/** What happened to an (entry, group) pair beyond what the group's state tells: `<prefix>:outcomes`. */
export interface PairOutcome {
  retries?: number;
  error?: string;
  attempts?: number;
  replay?: string;
}

/** A status set by `updateStatus`: `<prefix>:overrides`. */
export interface StatusOverride {
  status?: EventStatus;
  error?: string;
  processedAt?: number;
  completedAt?: number;
}

/** Times recorded per read (or ack batch) of a group, by the furthest entry it reached; ascending. */
export class Progress {
  constructor(
    private readonly ids: readonly string[],
    private readonly times: readonly number[],
  ) {}

  /** When the group first reached `entryId`, if that was recorded. */
  reached(entryId: string): number | undefined {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (compareIds(this.ids[middle], entryId) < 0) low = middle + 1;
      else high = middle;
    }
    return this.times[low];
  }
}

/** A group's state around the entries of a page. */
export interface GroupState {
  /** Its last-delivered id; missing when no consumer group of that name is on the stream. */
  position?: string;
  pending: ReadonlyMap<string, PendingEntry>;
  delivered: Progress;
  acked: Progress;
}

/** Where a replayed pair went: the entry that replays it, its outcome and the group's state around it. */
export interface ReplayedPair {
  target: string;
  outcome?: PairOutcome;
  state: GroupState;
}

export interface RegisteredGroup {
  name: string;
  patterns: readonly string[];
  /** The entry the group started after: the events after it were routed to it. */
  start: string;
}

/** A page of the history and everything its statuses are derived from. */
export interface HistoryPage {
  /** Newest first. */
  entries: StreamEntry[];
  registry: RegisteredGroup[];
  groups: ReadonlyMap<string, GroupState>;
  outcomes: ReadonlyMap<string, Record<string, PairOutcome>>;
  overrides: ReadonlyMap<string, StatusOverride>;
  /** By `<entry id> <group>`. */
  replays: ReadonlyMap<string, ReplayedPair>;
}

type RawState = [name: string, position: string | null, pending: [string, string, number, number][], delivered: string[], acked: string[]];
type RawReplay = [entry: string, group: string, target: string, outcome: string | null, state: RawState];
type RawPage = [StreamEntry[]] | [StreamEntry[], string[], RawState[], (string | null)[], (string | null)[], RawReplay[]];

function progress(flat: readonly string[]): Progress {
  const ids: string[] = [];
  const times: number[] = [];
  for (let index = 0; index + 1 < flat.length; index += 2) {
    ids.push(flat[index]);
    times.push(Number(flat[index + 1]));
  }
  return new Progress(ids, times);
}

function groupState([, position, pending, delivered, acked]: RawState): GroupState {
  return {
    position: position ?? undefined,
    pending: new Map(pending.map(([id, , idleMs, deliveries]) => [id, { idleMs: Number(idleMs), deliveries: Number(deliveries) }])),
    delivered: progress(delivered),
    acked: progress(acked),
  };
}

/** The reply of the history page script, read. */
export function parseHistoryPage(reply: unknown): HistoryPage {
  const raw = reply as RawPage;
  const [entries] = raw;
  if (raw.length === 1) {
    return { entries, registry: [], groups: new Map(), outcomes: new Map(), overrides: new Map(), replays: new Map() };
  }
  const [, flatRegistry, states, outcomes, overrides, replays] = raw;
  const registry: RegisteredGroup[] = [];
  for (let index = 0; index + 1 < flatRegistry.length; index += 2) {
    const spec = JSON.parse(flatRegistry[index + 1]) as { patterns: string[]; start?: string };
    registry.push({ name: flatRegistry[index], patterns: spec.patterns, start: spec.start ?? '0-0' });
  }
  const ids = entries.map(([id]) => id);
  const byEntry = <T>(values: (string | null)[]): Map<string, T> =>
    new Map(values.flatMap((value, index) => (value === null ? [] : [[ids[index], JSON.parse(value) as T]])));
  return {
    entries,
    registry,
    groups: new Map(states.map((state) => [state[0], groupState(state)])),
    outcomes: byEntry<Record<string, PairOutcome>>(outcomes),
    overrides: byEntry<StatusOverride>(overrides),
    replays: new Map(
      replays.map(([entry, group, target, outcome, state]) => [
        `${entry} ${group}`,
        { target, outcome: outcome === null ? undefined : (JSON.parse(outcome) as PairOutcome), state: groupState(state) },
      ]),
    ),
  };
}
