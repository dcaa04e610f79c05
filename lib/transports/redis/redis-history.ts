import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import type { EventFilter, StatusDetails } from '../../core/event-history.interface.js';
import type { EventCodec } from '../event-codec.interface.js';
import { assertEventFilter, DEFAULT_LIST_LIMIT, matchesFilter, newestWindow } from '../event-filter.js';
import { unknownEvent } from '../unknown-event.js';
import { applyDerivedStatus } from './redis-derived-status.js';
import { parseHistoryPage, type HistoryPage, type StatusOverride } from './redis-history-page.js';
import { DELETE_SCRIPT, HISTORY_PAGE_SCRIPT, UPDATE_STATUS_SCRIPT } from './redis-history-scripts.js';
import type { RedisClient } from './redis-client.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { entryEvent, entryFields } from './redis-stream-entry.js';
import { compareIds } from './redis-stream-ids.js';

const HISTORY_PAGE = new RedisScript(HISTORY_PAGE_SCRIPT);
const UPDATE_STATUS = new RedisScript(UPDATE_STATUS_SCRIPT);
const DELETE = new RedisScript(DELETE_SCRIPT);

/** Entries read per step of a `list`, newest first. */
const PAGE_SIZE = 200;

/** An event of a page and the entry it was read from. */
interface PageEvent {
  entryId: string;
  event: BrokerEvent;
}

/** Where a `list` is in one partition: the events read and not taken yet, newest first, and where the next page ends. */
interface PartitionWalk {
  keys: RedisKeys;
  buffered: PageEvent[];
  end: string;
  done: boolean;
}

/**
 * The history as a view over the partitions' streams: an event is its entry, its status is derived
 * from the groups' state when it is read (`applyDerivedStatus`); by id through each partition's id
 * index (the id does not say which partition holds it), by filter newest first over the partitions
 * merged by entry id, with `since`/`until` mapped to entry ids.
 */
export class RedisHistory {
  constructor(
    private readonly client: () => RedisClient,
    private readonly partitions: readonly RedisKeys[],
    private readonly codec: EventCodec,
  ) {}

  async get(id: string): Promise<BrokerEvent | null> {
    const found = await Promise.all(this.partitions.map(async (keys) => this.events(await this.page(keys, ['id', keys.id(id)]))));
    return found.flat()[0]?.event ?? null;
  }

  /**
   * Walks the partitions from the newest entry in the window back, taking the newest of their next
   * events each time, until the window of `filter` is full.
   */
  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    const wanted = (filter.offset ?? 0) + (filter.limit ?? DEFAULT_LIST_LIMIT);
    if (filter.until && filter.until.getTime() < 0) return [];
    const walks: PartitionWalk[] = this.partitions.map((keys) => ({ keys, buffered: [], end: '', done: false }));
    const newestFirst: BrokerEvent[] = [];
    while (newestFirst.length < wanted) {
      await Promise.all(walks.filter((walk) => walk.buffered.length === 0 && !walk.done).map((walk) => this.fill(walk, filter)));
      let newest: PartitionWalk | undefined;
      for (const walk of walks) {
        const head = walk.buffered[0];
        if (head && (!newest || compareIds(head.entryId, newest.buffered[0].entryId) > 0)) newest = walk;
      }
      const next = newest?.buffered.shift();
      if (!next) break;
      newestFirst.push(next.event);
    }
    return newestWindow(newestFirst.toReversed(), filter);
  }

  /** Reads pages of the partition until one of its events matches `filter` or the partition has no more. */
  private async fill(walk: PartitionWalk, filter: EventFilter): Promise<void> {
    const until = filter.until ? String(filter.until.getTime()) : '';
    const since = filter.since ? String(filter.since.getTime()) : '';
    while (walk.buffered.length === 0 && !walk.done) {
      const page = await this.page(walk.keys, ['range', walk.end, until, since, PAGE_SIZE]);
      walk.buffered = this.events(page).filter(({ event }) => matchesFilter(event, filter));
      const oldest = page.entries.at(-1);
      walk.done = !oldest || page.entries.length < PAGE_SIZE;
      if (oldest) walk.end = `(${oldest[0]}`;
    }
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    const override: StatusOverride = { status };
    if (details.error !== undefined) override.error = details.error;
    if (details.processedAt) override.processedAt = details.processedAt.getTime();
    if (details.completedAt) override.completedAt = details.completedAt.getTime();
    const entries = await Promise.all(
      this.partitions.map((keys) =>
        UPDATE_STATUS.run(this.client(), [keys.id(id), keys.stream, keys.overrides], [JSON.stringify(override)]),
      ),
    );
    if (entries.every((entry) => entry === null)) throw unknownEvent(id);
  }

  async delete(id: string): Promise<boolean> {
    const removed = await Promise.all(
      this.partitions.map((keys) => DELETE.run(this.client(), [keys.id(id), keys.stream, keys.outcomes, keys.overrides, keys.replays], [])),
    );
    return removed.some((count) => Number(count) > 0);
  }

  private async page(keys: RedisKeys, args: readonly (string | number)[]): Promise<HistoryPage> {
    const { stream, groups, outcomes, overrides, skew, groupPrefixes } = keys;
    const reply = await HISTORY_PAGE.run(
      this.client(),
      [stream, groups, outcomes, overrides, skew],
      [groupPrefixes.delivered, groupPrefixes.acked, ...args],
    );
    return parseHistoryPage(reply);
  }

  /** The events of a page, newest first, with their status: replays and unreadable entries are not events. */
  private events(page: HistoryPage): PageEvent[] {
    const now = Date.now();
    const events: PageEvent[] = [];
    for (const [entryId, raw] of page.entries) {
      const fields = entryFields(raw);
      const event = entryEvent(fields, this.codec);
      if (!event) continue;
      applyDerivedStatus(event, entryId, fields.skip?.split(',') ?? [], page, now);
      events.push({ entryId, event });
    }
    return events;
  }
}
