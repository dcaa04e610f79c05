/**
 * The key layout, documented in the README so that services in other languages can use it. The
 * events are spread over `partitions` streams; each partition's keys start with its base and share
 * its hash tag, so that a script only ever touches keys of one Redis Cluster slot:
 *
 * - with one partition the base is `<prefix>` (the layout of the versions before partitions);
 * - with n > 1 partitions, partition p's base is `<prefix>:{<prefix>:p}`: the tag holds the prefix,
 *   so that the partitions of two prefixes land on different slots.
 *
 * An event goes to partition `fnv1a32(key ?? id) % partitions` (`partitionOf`). The stream is the
 * history: an event's status is derived, when it is read, from the consumer groups' own state
 * (their last-delivered ids and pending entries); beside it only what the groups' state cannot
 * tell is written. Per partition, with `<base>`:
 *
 * - `<base>:stream`: every event, one entry each, its id `<createdAt ms>-<seq>` (later when an
 *   entry with a later time is already there); fields `id` (the event id), `event` (CloudEvents
 *   JSON) and, when they apply, `traceparent` (W3C trace context, also in the JSON), `skip` (groups
 *   the publisher handled inline, comma-separated) or `only` (the one group a replayed dead letter is
 *   for: such an entry is a delivery, not an event of its own). Another program's entry has `event` only.
 * - consumer groups on that stream, one per subscription group;
 * - `<base>:groups`: hash, group name → JSON `{ "patterns": [...], "start": "<entry id>" }`: the
 *   group was routed the events of this partition after `start` whose type its patterns match;
 * - `<base>:id:<event id>`: string, the entry id of the event (the idempotency key of a publish),
 *   expiring after `retentionMs`;
 * - `<base>:delivered:<group>` and `<base>:acked:<group>`: streams of the group's progress, one
 *   entry per read (per ack batch) that went further than the entry before it: its id is the
 *   furthest entry id read (acked), its field `at` the time (ms);
 * - `<base>:outcomes`: hash, entry id → JSON, by group: `{ "retries": n }`,
 *   `{ "error": "…", "attempts": n }` (dead-lettered) or `{ "replay": "<entry id>" }` (replayed as
 *   that entry);
 * - `<base>:replays`: hash, entry id of a replay → the entry id it replays;
 * - `<base>:overrides`: hash, entry id → JSON `{ "status", "error", "processedAt", "completedAt" }`
 *   set by `updateStatus`;
 * - `<base>:skew`: hash, `behind` and `ahead`: the most an event's `createdAt` was before
 *   (after) the time of its entry id, in ms, so that `since`/`until` map to entry ids;
 * - `<base>:dead:<group>`: stream of the group's dead letters: `event`, `error`, `attempts`,
 *   `entry` (the id in `<base>:stream`), `at` (ms).
 * - `<base>:lease:<group>`: string, in an ordered group, the token of the consumer that owns the
 *   partition (expiring after `ackTimeoutMs` unless renewed), or `released` once its owner gave it back.
 *
 * And once per prefix, `<prefix>:partitions`: string, the partition count the data was written
 * with; per ordered group, `<prefix>:members:<group>`: sorted set, consumer token → until when it
 * is alive (ms).
 */
/** The keys of one partition, under its base. */
export class RedisKeys {
  readonly stream: string;
  readonly groups: string;
  readonly outcomes: string;
  readonly replays: string;
  readonly overrides: string;
  readonly skew: string;
  /** The prefix of the id index's keys, for scripts that build them. */
  readonly idPrefix: string;

  constructor(
    /** Its index among the partitions of the prefix. */
    readonly partition: number,
    private readonly base: string,
  ) {
    this.stream = `${base}:stream`;
    this.groups = `${base}:groups`;
    this.outcomes = `${base}:outcomes`;
    this.replays = `${base}:replays`;
    this.overrides = `${base}:overrides`;
    this.skew = `${base}:skew`;
    this.idPrefix = `${base}:id:`;
  }

  id(eventId: string): string {
    return `${this.idPrefix}${eventId}`;
  }

  delivered(group: string): string {
    return `${this.base}:delivered:${group}`;
  }

  acked(group: string): string {
    return `${this.base}:acked:${group}`;
  }

  dead(group: string): string {
    return `${this.base}:dead:${group}`;
  }

  /** Who owns the partition in an ordered group: a consumer's token while it does, `released` once it gave it back. */
  lease(group: string): string {
    return `${this.base}:lease:${group}`;
  }

  /** The prefixes of the per-group keys, for scripts that build them. */
  get groupPrefixes(): { delivered: string; acked: string } {
    return { delivered: `${this.base}:delivered:`, acked: `${this.base}:acked:` };
  }
}

/** Every key of a prefix: its partitions' and the few it has once. */
export class RedisLayout {
  readonly partitions: readonly RedisKeys[];
  /** The partition count the data under the prefix was written with. */
  readonly partitionCount: string;
  /** The key of the history index of the layout before the stream became the history: its presence means data of that layout. */
  readonly previousHistory: string;
  /** The stream of the layout before partitions: the data of one partition, without a recorded count. */
  readonly unpartitionedStream: string;

  /** The live consumers of an ordered group: a sorted set, token → until when it is alive (ms). */
  members(group: string): string {
    return `${this.prefix}:members:${group}`;
  }

  constructor(
    private readonly prefix: string,
    partitions: number,
  ) {
    this.partitions = Array.from(
      { length: partitions },
      (_, partition) => new RedisKeys(partition, partitions === 1 ? prefix : `${prefix}:{${prefix}:${partition}}`),
    );
    this.partitionCount = `${prefix}:partitions`;
    this.previousHistory = `${prefix}:history`;
    this.unpartitionedStream = `${prefix}:stream`;
  }
}
