import type { Redis } from 'ioredis';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import type { EventFilter, StatusDetails } from '../../core/event-history.interface.js';
import type { EventCodec } from '../event-codec.interface.js';
import { assertEventFilter, DEFAULT_LIST_LIMIT, matchesFilter, newestWindow } from '../event-filter.js';
import { unknownEvent } from '../unknown-event.js';
import { applyDerivedStatus } from './redis-derived-status.js';
import { parseHistoryPage, type HistoryPage, type StatusOverride } from './redis-history-page.js';
import { DELETE_SCRIPT, HISTORY_PAGE_SCRIPT, UPDATE_STATUS_SCRIPT } from './redis-history-scripts.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script-runner.js';
import { entryEvent, entryFields } from './redis-stream-entry.js';

const HISTORY_PAGE = new RedisScript(HISTORY_PAGE_SCRIPT);
const UPDATE_STATUS = new RedisScript(UPDATE_STATUS_SCRIPT);
const DELETE = new RedisScript(DELETE_SCRIPT);

/** Entries read per step of a `list`, newest first. */
const PAGE_SIZE = 200;

/**
 * The history as a view over the stream: an event is its entry, its status is derived from the
 * groups' state when it is read (`applyDerivedStatus`), by id through the id index, by filter
 * newest first with `since`/`until` mapped to entry ids.
 */
export class RedisHistory {
  constructor(
    private readonly client: () => Redis,
    private readonly keys: RedisKeys,
    private readonly codec: EventCodec,
  ) {}

  async get(id: string): Promise<BrokerEvent | null> {
    const [event] = this.events(await this.page(['id', this.keys.id(id)]));
    return event ?? null;
  }

  /** Walks the stream from the newest entry in the window back until the window of `filter` is full. */
  async list(filter: EventFilter = {}): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    const wanted = (filter.offset ?? 0) + (filter.limit ?? DEFAULT_LIST_LIMIT);
    if (filter.until && filter.until.getTime() < 0) return [];
    const until = filter.until ? String(filter.until.getTime()) : '';
    const since = filter.since ? String(filter.since.getTime()) : '';
    const newestFirst: BrokerEvent[] = [];
    let end = '';
    while (newestFirst.length < wanted) {
      const page = await this.page(['range', end, until, since, PAGE_SIZE]);
      for (const event of this.events(page)) if (matchesFilter(event, filter)) newestFirst.push(event);
      const oldest = page.entries.at(-1);
      if (!oldest || page.entries.length < PAGE_SIZE) break;
      end = `(${oldest[0]}`;
    }
    return newestWindow(newestFirst.slice(0, wanted).toReversed(), filter);
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails = {}): Promise<void> {
    const override: StatusOverride = { status };
    if (details.error !== undefined) override.error = details.error;
    if (details.processedAt) override.processedAt = details.processedAt.getTime();
    if (details.completedAt) override.completedAt = details.completedAt.getTime();
    const { stream, overrides } = this.keys;
    const entry = await UPDATE_STATUS.run(this.client(), [this.keys.id(id), stream, overrides], [JSON.stringify(override)]);
    if (entry === null) throw unknownEvent(id);
  }

  async delete(id: string): Promise<boolean> {
    const { stream, outcomes, overrides, replays } = this.keys;
    return Number(await DELETE.run(this.client(), [this.keys.id(id), stream, outcomes, overrides, replays], [])) > 0;
  }

  private async page(args: readonly (string | number)[]): Promise<HistoryPage> {
    const { stream, groups, outcomes, overrides, skew, groupPrefixes } = this.keys;
    const reply = await HISTORY_PAGE.run(
      this.client(),
      [stream, groups, outcomes, overrides, skew],
      [groupPrefixes.delivered, groupPrefixes.acked, ...args],
    );
    return parseHistoryPage(reply);
  }

  /** The events of a page, newest first, with their status: replays and unreadable entries are not events. */
  private events(page: HistoryPage): BrokerEvent[] {
    const now = Date.now();
    const events: BrokerEvent[] = [];
    for (const [entryId, raw] of page.entries) {
      const fields = entryFields(raw);
      const event = entryEvent(fields, this.codec);
      if (!event) continue;
      applyDerivedStatus(event, entryId, fields.skip?.split(',') ?? [], page, now);
      events.push(event);
    }
    return events;
  }
}
