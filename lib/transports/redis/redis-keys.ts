/**
 * The key layout, documented in the README so that services in other languages can use it:
 *
 * - `<prefix>:stream`: every event, one entry each, field `event` = CloudEvents JSON; an entry may
 *   also have `traceparent` (W3C trace context, also in the JSON), `skip` (groups the publisher
 *   handled inline, comma-separated) or `only` (the one group a replayed dead letter is for).
 * - consumer groups on that stream, one per subscription group;
 * - `<prefix>:groups`: hash, group name → JSON `{ "patterns": [...] }`;
 * - `<prefix>:event:<id>`: hash, the history record: `event`, `status`, `error`, `processedAt`,
 *   `completedAt`, `retryCount`, `pending`, `failed` and `g:<group>` for each group it was routed to;
 * - `<prefix>:history`: sorted set of event ids by creation time (ms);
 * - `<prefix>:dead:<group>`: stream of the group's dead letters: `event`, `error`, `attempts`,
 *   `entry` (the id in `<prefix>:stream`), `at` (ms).
 */
export class RedisKeys {
  readonly stream: string;
  readonly groups: string;
  readonly history: string;

  constructor(private readonly prefix: string) {
    this.stream = `${prefix}:stream`;
    this.groups = `${prefix}:groups`;
    this.history = `${prefix}:history`;
  }

  event(id: string): string {
    return `${this.prefix}:event:${id}`;
  }

  dead(group: string): string {
    return `${this.prefix}:dead:${group}`;
  }

  /** The prefix of event keys, for scripts that build them. */
  get eventPrefix(): string {
    return `${this.prefix}:event:`;
  }
}
