/**
 * The key layout, documented in the README so that services in other languages can use it. The
 * stream is the history: an event's status is derived, when it is read, from the consumer groups'
 * own state (their last-delivered ids and pending entries); beside it only what the groups' state
 * cannot tell is written.
 *
 * - `<prefix>:stream`: every event, one entry each, its id `<createdAt ms>-<seq>` (later when an
 *   entry with a later time is already there); fields `id` (the event id), `event` (CloudEvents
 *   JSON) and, when they apply, `traceparent` (W3C trace context, also in the JSON), `skip` (groups
 *   the publisher handled inline, comma-separated) or `only` (the one group a replayed dead letter is
 *   for: such an entry is a delivery, not an event of its own). Another program's entry has `event` only.
 * - consumer groups on that stream, one per subscription group;
 * - `<prefix>:groups`: hash, group name → JSON `{ "patterns": [...], "start": "<entry id>" }`: the
 *   group was routed the events after `start` whose type its patterns match;
 * - `<prefix>:id:<event id>`: string, the entry id of the event (the idempotency key of a publish),
 *   expiring after `retentionMs`;
 * - `<prefix>:delivered:<group>` and `<prefix>:acked:<group>`: streams of the group's progress, one
 *   entry per read (per ack batch) that went further than the entry before it: its id is the
 *   furthest entry id read (acked), its field `at` the time (ms);
 * - `<prefix>:outcomes`: hash, entry id → JSON, by group: `{ "retries": n }`,
 *   `{ "error": "…", "attempts": n }` (dead-lettered) or `{ "replay": "<entry id>" }` (replayed as
 *   that entry);
 * - `<prefix>:replays`: hash, entry id of a replay → the entry id it replays;
 * - `<prefix>:overrides`: hash, entry id → JSON `{ "status", "error", "processedAt", "completedAt" }`
 *   set by `updateStatus`;
 * - `<prefix>:skew`: hash, `behind` and `ahead`: the most an event's `createdAt` was before
 *   (after) the time of its entry id, in ms, so that `since`/`until` map to entry ids;
 * - `<prefix>:dead:<group>`: stream of the group's dead letters: `event`, `error`, `attempts`,
 *   `entry` (the id in `<prefix>:stream`), `at` (ms).
 */
export class RedisKeys {
  readonly stream: string;
  readonly groups: string;
  readonly outcomes: string;
  readonly replays: string;
  readonly overrides: string;
  readonly skew: string;
  /** The key of the previous layout's history index: its presence means data of that layout. */
  readonly previousHistory: string;
  /** The prefix of the id index's keys, for scripts that build them. */
  readonly idPrefix: string;

  constructor(private readonly prefix: string) {
    this.stream = `${prefix}:stream`;
    this.groups = `${prefix}:groups`;
    this.outcomes = `${prefix}:outcomes`;
    this.replays = `${prefix}:replays`;
    this.overrides = `${prefix}:overrides`;
    this.skew = `${prefix}:skew`;
    this.previousHistory = `${prefix}:history`;
    this.idPrefix = `${prefix}:id:`;
  }

  id(eventId: string): string {
    return `${this.idPrefix}${eventId}`;
  }

  delivered(group: string): string {
    return `${this.prefix}:delivered:${group}`;
  }

  acked(group: string): string {
    return `${this.prefix}:acked:${group}`;
  }

  dead(group: string): string {
    return `${this.prefix}:dead:${group}`;
  }

  /** The prefixes of the per-group keys, for scripts that build them. */
  get groupPrefixes(): { delivered: string; acked: string } {
    return { delivered: `${this.prefix}:delivered:`, acked: `${this.prefix}:acked:` };
  }
}
