import type { JetStreamClient, JetStreamManager } from 'nats';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import type { EventFilter, StatusDetails } from '../../core/event-history.interface.js';
import { matchPattern } from '../../core/match-pattern.js';
import type { EventCodec } from '../event-codec.interface.js';
import { assertEventFilter, DEFAULT_LIST_LIMIT } from '../event-filter.js';
import { unknownEvent } from '../unknown-event.js';
import type { FailedGroups, NatsDeadLetters } from './nats-dead-letters.js';
import { MessageKind, NatsEventIndex, routes, type IndexedType } from './nats-event-index.js';
import { deriveStatus, type PositionedGroup } from './nats-event-status.js';
import type { NatsGroupRegistry, RegisteredGroup } from './nats-group-registry.js';
import { encodeName } from './nats-names.js';
import type { StatusRecord } from './nats-progress-record.interface.js';
import { readStream } from './nats-stream-reader.js';
import type { NatsPosition, NatsSubjects } from './nats-subjects.js';
import { isNotFound } from './nats-errors.js';

/** What the history reads: the streams, the group registry and the dead letters. */
export interface NatsHistoryContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The events stream of each partition. */
  streams: readonly string[];
  progressStream: string;
  subjects: NatsSubjects;
  codec: EventCodec;
  groups: NatsGroupRegistry;
  deadLetters: NatsDeadLetters;
}

/** An event found in the events streams: where it is and the event its message carries. */
interface Located {
  position: NatsPosition;
  event: BrokerEvent;
}

/** The next match of one partition in `list`, newest first. */
interface Head {
  position: NatsPosition;
  createdAt: number;
  rest: Iterator<number>;
}

/**
 * The history as a view of the engine's state: the events streams (one per partition) are the
 * history, each group's durable consumer on a partition's stream (its ack floor and what it
 * handed out) gives the status in that group of the partition's events, the dead-letter stream
 * their failures, and the progress stream (written a record per batch) the times and attempts
 * and the statuses set by hand. An index per partition, built in this process on first use and
 * brought up to date on each query, finds events by id and filters `list`, whose partitions are
 * merged by creation time.
 */
export class NatsHistory {
  private readonly indexes: NatsEventIndex[];
  /** The last sequence read of the progress stream. */
  private progressThrough = 0;
  private running?: Promise<void>;
  private queued?: Promise<void>;

  constructor(private readonly context: NatsHistoryContext) {
    this.indexes = context.streams.map(() => new NatsEventIndex(context.codec));
  }

  async get(id: string): Promise<BrokerEvent | null> {
    await this.current();
    const found = (await this.locate(id))[0];
    if (!found) return null;
    const { partition, seq } = found.position;
    const type = this.indexes[partition].type(seq);
    const routed = this.context.groups.all().filter((group) => seq >= (group.startSeqs[partition] ?? 0) && routes(type, group.patterns));
    const [groups, failedIn] = await Promise.all([this.positions(partition, routed), this.context.deadLetters.groupsOf(found.position)]);
    return this.shown(found, groups, failedIn);
  }

  async list(filter: EventFilter): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    await this.current();
    const registered = this.context.groups.all();
    const [groups, failures] = await Promise.all([
      Promise.all(this.indexes.map((_, partition) => this.positions(partition, registered))),
      this.context.deadLetters.all(),
    ]);
    for (;;) {
      const chosen = this.matches(filter, groups, failures);
      const stored = await Promise.all(chosen.map((position) => this.read(position)));
      const gone = chosen.filter((_, at) => stored[at] === undefined);
      if (gone.length > 0) {
        // Deleted by another process since this one indexed them: choose again without them.
        for (const { partition, seq } of gone) this.indexes[partition].markDeleted(seq);
        continue;
      }
      const events = await Promise.all(
        chosen.map((position, at) =>
          this.shown(
            { position, event: stored[at] as BrokerEvent },
            groups[position.partition],
            failures.get(position.partition)?.get(position.seq) ?? [],
          ),
        ),
      );
      return events.toReversed();
    }
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails): Promise<void> {
    await this.current();
    const [found] = await this.locate(id);
    if (!found) throw unknownEvent(id);
    const record: StatusRecord = {
      s: found.position.seq,
      status,
      error: details.error,
      processedAt: details.processedAt?.getTime(),
      completedAt: details.completedAt?.getTime(),
    };
    await this.context.js.publish(this.context.subjects.progressOf('status', found.position.partition), JSON.stringify(record));
  }

  /** Where the event `id` is, if a stream holds it. */
  async positionOf(id: string): Promise<NatsPosition | undefined> {
    await this.current();
    const [found] = await this.locate(id);
    return found?.position;
  }

  /** Deletes the event's messages (and its replayed copies) from the events streams. */
  async delete(id: string): Promise<boolean> {
    await this.current();
    const found = await this.locate(id);
    for (const { position } of found) {
      const { partition, seq } = position;
      const index = this.indexes[partition];
      for (const message of [seq, ...index.copiesOf(seq)]) {
        await this.context.jsm.streams.deleteMessage(this.context.streams[partition], message, false).catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
        });
      }
      index.markDeleted(seq);
    }
    return found.length > 0;
  }

  /** The positions of the newest matches after skipping `offset` of them, newest first, the partitions merged by creation time. */
  private matches(filter: EventFilter, groups: readonly (readonly PositionedGroup[])[], failures: FailedGroups): NatsPosition[] {
    const limit = filter.limit ?? DEFAULT_LIST_LIMIT;
    if (limit === 0) return [];
    const typeMatches = new Map<IndexedType, boolean>();
    const heads: Head[] = [];
    this.indexes.forEach((index, partition) => {
      const rest = this.partitionMatches(index, filter, groups[partition], failures.get(partition), typeMatches);
      const head = this.head(index, partition, rest);
      if (head) heads.push(head);
    });
    let skip = filter.offset ?? 0;
    const chosen: NatsPosition[] = [];
    while (chosen.length < limit && heads.length > 0) {
      let newest = 0;
      for (let at = 1; at < heads.length; at++) if (heads[at].createdAt > heads[newest].createdAt) newest = at;
      const { position, rest } = heads[newest];
      if (skip > 0) skip--;
      else chosen.push(position);
      const next = this.head(this.indexes[position.partition], position.partition, rest);
      if (next) heads[newest] = next;
      else heads.splice(newest, 1);
    }
    return chosen;
  }

  private head(index: NatsEventIndex, partition: number, rest: Iterator<number>): Head | undefined {
    const next = rest.next();
    if (next.done) return undefined;
    return { position: { partition, seq: next.value }, createdAt: index.createdAt(next.value), rest };
  }

  /** The sequences of one partition's events that match the filter (but its offset and limit), newest first. */
  private *partitionMatches(
    index: NatsEventIndex,
    filter: EventFilter,
    groups: readonly PositionedGroup[],
    failures: ReadonlyMap<number, readonly string[]> | undefined,
    typeMatches: Map<IndexedType, boolean>,
  ): Generator<number> {
    const user = filter.userId === undefined ? undefined : index.userNumber(String(filter.userId));
    if (user === 0) return;
    const since = filter.since?.getTime() ?? -Infinity;
    const until = filter.until?.getTime() ?? Infinity;
    for (let seq = index.eventsThrough; seq >= index.first; seq--) {
      if (index.kind(seq) !== MessageKind.event) continue;
      const type = index.type(seq);
      if (filter.source !== undefined && type.source !== filter.source) continue;
      if (filter.type !== undefined) {
        let matches = typeMatches.get(type);
        if (matches === undefined) typeMatches.set(type, (matches = matchPattern(filter.type, type.type)));
        if (!matches) continue;
      }
      if (filter.instanceId !== undefined && index.instanceId(seq) !== filter.instanceId) continue;
      if (user !== undefined && index.user(seq) !== user) continue;
      const createdAt = index.createdAt(seq);
      if (createdAt < since || createdAt > until) continue;
      if (filter.status !== undefined) {
        const status = index.override(seq)?.status ?? deriveStatus(index, seq, groups, failures?.get(seq) ?? []).status;
        if (status !== filter.status) continue;
      }
      yield seq;
    }
  }

  /** The event with its status: derived, then the dead letter's error, then a status set by hand. */
  private async shown({ position, event }: Located, groups: readonly PositionedGroup[], failedIn: readonly string[]): Promise<BrokerEvent> {
    const index = this.indexes[position.partition];
    const { seq } = position;
    const derived = deriveStatus(index, seq, groups, failedIn);
    event.status = derived.status;
    event.retryCount = derived.retryCount;
    if (derived.processedAt !== undefined) event.processedAt = new Date(derived.processedAt);
    if (derived.completedAt !== undefined) event.completedAt = new Date(derived.completedAt);
    if (derived.status === 'failed') {
      const failures = await this.context.deadLetters.failures(position, failedIn);
      const latest = failures.at(-1);
      if (latest) event.error = latest.error;
      event.retryCount = Math.max(event.retryCount, ...failures.map((failure) => failure.attempts - 1));
    }
    const override = index.override(seq);
    if (override) {
      event.status = override.status;
      if (override.error !== undefined) event.error = override.error;
      if (override.processedAt !== undefined) event.processedAt = new Date(override.processedAt);
      if (override.completedAt !== undefined) event.completedAt = new Date(override.completedAt);
    }
    return event;
  }

  /**
   * The events stored with `id`, newest first (one, unless it was published again after the
   * duplicate window, or with another key). The indexes must be current.
   */
  private async locate(id: string): Promise<Located[]> {
    const found: Located[] = [];
    for (const [partition, index] of this.indexes.entries()) {
      for (const seq of index.find(id)) {
        const position = { partition, seq };
        const event = await this.read(position);
        if (event === undefined) index.markDeleted(seq);
        else if (event.id === id) found.push({ position, event });
      }
    }
    return found.toSorted((a, b) => b.event.createdAt.getTime() - a.event.createdAt.getTime());
  }

  /** The event of the message at `position`; `undefined` once the message is gone. */
  private async read({ partition, seq }: NatsPosition): Promise<BrokerEvent | undefined> {
    try {
      return this.context.codec.decode((await this.context.jsm.streams.getMessage(this.context.streams[partition], { seq })).string());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Where the consumer of each group stands now on the stream of `partition`; a group whose consumer is gone is left out. */
  private async positions(partition: number, groups: readonly RegisteredGroup[]): Promise<PositionedGroup[]> {
    const positioned = await Promise.all(
      groups.map(async ({ group, patterns, startSeqs }) => {
        try {
          const info = await this.context.jsm.consumers.info(this.context.streams[partition], encodeName(group));
          const startSeq = startSeqs[partition] ?? 0;
          return { group, patterns, startSeq, ackFloor: info.ack_floor.stream_seq, delivered: info.delivered.stream_seq };
        } catch (error) {
          if (isNotFound(error)) return undefined;
          throw error;
        }
      }),
    );
    return positioned.filter((group) => group !== undefined);
  }

  /** Brings the indexes up to date with the streams; queries arriving meanwhile share the next update. */
  private current(): Promise<void> {
    if (!this.running) {
      this.running = this.update().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.current();
      });
    return this.queued;
  }

  private async update(): Promise<void> {
    const { js, jsm, streams, progressStream, subjects } = this.context;
    const [progress, ...events] = await Promise.all([progressStream, ...streams].map((stream) => jsm.streams.info(stream)));
    const from = Math.max(this.progressThrough + 1, progress.state.first_seq);
    await Promise.all([
      ...streams.map(async (stream, partition) => {
        const index = this.indexes[partition];
        const { first_seq, last_seq } = events[partition].state;
        index.dropBefore(first_seq);
        await readStream(js, jsm, stream, index.eventsThrough + 1, last_seq, (message) => index.addEvent(message));
        index.eventsThrough = Math.max(index.eventsThrough, last_seq);
      }),
      readStream(js, jsm, progressStream, from, progress.state.last_seq, (message) => {
        const record = subjects.parseProgress(message.subject);
        if (record) this.indexes[record.partition].addProgress(record.kind, message);
      }),
    ]);
    this.progressThrough = Math.max(this.progressThrough, progress.state.last_seq);
  }
}
