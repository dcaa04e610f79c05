import type { JetStreamClient, JetStreamManager } from 'nats';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import type { EventFilter, StatusDetails } from '../../core/event-history.interface.js';
import { matchPattern } from '../../core/match-pattern.js';
import type { EventCodec } from '../event-codec.interface.js';
import { assertEventFilter, DEFAULT_LIST_LIMIT } from '../event-filter.js';
import { unknownEvent } from '../unknown-event.js';
import type { NatsDeadLetters } from './nats-dead-letters.js';
import { MessageKind, NatsEventIndex, routes, type IndexedType } from './nats-event-index.js';
import { deriveStatus, type PositionedGroup } from './nats-event-status.js';
import type { NatsGroupRegistry, RegisteredGroup } from './nats-group-registry.js';
import { encodeName } from './nats-names.js';
import type { StatusRecord } from './nats-progress-record.interface.js';
import { readStream } from './nats-stream-reader.js';
import type { NatsSubjects } from './nats-subjects.js';
import { isNotFound } from './nats-errors.js';

/** What the history reads: the streams, the group registry and the dead letters. */
export interface NatsHistoryContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  progressStream: string;
  subjects: NatsSubjects;
  codec: EventCodec;
  groups: NatsGroupRegistry;
  deadLetters: NatsDeadLetters;
}

/** An event found in the events stream: its sequence and the event its message carries. */
interface Located {
  seq: number;
  event: BrokerEvent;
}

/**
 * The history as a view of the engine's state: the events stream is the history, each group's
 * durable consumer (its ack floor and what it handed out) gives the event's status in that group,
 * the dead-letter stream its failures, and the progress stream (written a record per batch) the
 * times and attempts and the statuses set by hand. An index of the streams, built in this process
 * on first use and brought up to date on each query, finds events by id and filters `list`.
 */
export class NatsHistory {
  private index?: NatsEventIndex;
  private running?: Promise<NatsEventIndex>;
  private queued?: Promise<NatsEventIndex>;

  constructor(private readonly context: NatsHistoryContext) {}

  async get(id: string): Promise<BrokerEvent | null> {
    const index = await this.current();
    const found = (await this.locate(index, id))[0];
    if (!found) return null;
    const type = index.type(found.seq);
    const routed = this.context.groups.all().filter((group) => found.seq >= group.startSeq && routes(type, group.patterns));
    const [groups, failedIn] = await Promise.all([this.positions(routed), this.context.deadLetters.groupsOf(found.seq)]);
    return this.shown(index, found, groups, failedIn);
  }

  async list(filter: EventFilter): Promise<BrokerEvent[]> {
    assertEventFilter(filter);
    const index = await this.current();
    const [groups, failures] = await Promise.all([this.positions(this.context.groups.all()), this.context.deadLetters.all()]);
    for (;;) {
      const chosen = this.matches(index, filter, groups, failures);
      const stored = await Promise.all(chosen.map((seq) => this.read(seq)));
      const gone = chosen.filter((_, position) => stored[position] === undefined);
      if (gone.length > 0) {
        // Deleted by another process since this one indexed them: choose again without them.
        for (const seq of gone) index.markDeleted(seq);
        continue;
      }
      const events = await Promise.all(
        chosen.map((seq, position) => this.shown(index, { seq, event: stored[position] as BrokerEvent }, groups, failures.get(seq) ?? [])),
      );
      return events.toReversed();
    }
  }

  async updateStatus(id: string, status: EventStatus, details: StatusDetails): Promise<void> {
    const [found] = await this.locate(await this.current(), id);
    if (!found) throw unknownEvent(id);
    const record: StatusRecord = {
      s: found.seq,
      status,
      error: details.error,
      processedAt: details.processedAt?.getTime(),
      completedAt: details.completedAt?.getTime(),
    };
    await this.context.js.publish(this.context.subjects.progressOf('status'), JSON.stringify(record));
  }

  /** The stream sequence of the event `id`, if the stream holds it. */
  async sequenceOf(id: string): Promise<number | undefined> {
    const [found] = await this.locate(await this.current(), id);
    return found?.seq;
  }

  /** Deletes the event's messages (and its replayed copies) from the events stream. */
  async delete(id: string): Promise<boolean> {
    const index = await this.current();
    const found = await this.locate(index, id);
    for (const { seq } of found) {
      for (const message of [seq, ...index.copiesOf(seq)]) {
        await this.context.jsm.streams.deleteMessage(this.context.stream, message, false).catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
        });
      }
      index.markDeleted(seq);
    }
    return found.length > 0;
  }

  /** The sequences of the newest matches after skipping `offset` of them, newest first. */
  private matches(
    index: NatsEventIndex,
    filter: EventFilter,
    groups: readonly PositionedGroup[],
    failures: ReadonlyMap<number, readonly string[]>,
  ): number[] {
    const limit = filter.limit ?? DEFAULT_LIST_LIMIT;
    let skip = filter.offset ?? 0;
    const user = filter.userId === undefined ? undefined : index.userNumber(String(filter.userId));
    if (limit === 0 || user === 0) return [];
    const typeMatches = new Map<IndexedType, boolean>();
    const since = filter.since?.getTime() ?? -Infinity;
    const until = filter.until?.getTime() ?? Infinity;
    const chosen: number[] = [];
    for (let seq = index.eventsThrough; seq >= index.first && chosen.length < limit; seq--) {
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
        const status = index.override(seq)?.status ?? deriveStatus(index, seq, groups, failures.get(seq) ?? []).status;
        if (status !== filter.status) continue;
      }
      if (skip > 0) skip--;
      else chosen.push(seq);
    }
    return chosen;
  }

  /** The event with its status: derived, then the dead letter's error, then a status set by hand. */
  private async shown(
    index: NatsEventIndex,
    { seq, event }: Located,
    groups: readonly PositionedGroup[],
    failedIn: readonly string[],
  ): Promise<BrokerEvent> {
    const derived = deriveStatus(index, seq, groups, failedIn);
    event.status = derived.status;
    event.retryCount = derived.retryCount;
    if (derived.processedAt !== undefined) event.processedAt = new Date(derived.processedAt);
    if (derived.completedAt !== undefined) event.completedAt = new Date(derived.completedAt);
    if (derived.status === 'failed') {
      const failures = await this.context.deadLetters.failures(seq, failedIn);
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

  /** The events stored with `id`, newest first (one, unless it was published again after the duplicate window). */
  private async locate(index: NatsEventIndex, id: string): Promise<Located[]> {
    const found: Located[] = [];
    for (const seq of index.find(id)) {
      const event = await this.read(seq);
      if (event === undefined) index.markDeleted(seq);
      else if (event.id === id) found.push({ seq, event });
    }
    return found;
  }

  /** The event of the message at `seq`; `undefined` once the message is gone. */
  private async read(seq: number): Promise<BrokerEvent | undefined> {
    try {
      return this.context.codec.decode((await this.context.jsm.streams.getMessage(this.context.stream, { seq })).string());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Where the consumer of each group stands now; a group whose consumer is gone is left out. */
  private async positions(groups: readonly RegisteredGroup[]): Promise<PositionedGroup[]> {
    const positioned = await Promise.all(
      groups.map(async (group) => {
        try {
          const info = await this.context.jsm.consumers.info(this.context.stream, encodeName(group.group));
          return { ...group, ackFloor: info.ack_floor.stream_seq, delivered: info.delivered.stream_seq };
        } catch (error) {
          if (isNotFound(error)) return undefined;
          throw error;
        }
      }),
    );
    return positioned.filter((group) => group !== undefined);
  }

  /** The index, brought up to date with both streams; queries arriving meanwhile share the next update. */
  private current(): Promise<NatsEventIndex> {
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

  private async update(): Promise<NatsEventIndex> {
    const { js, jsm, stream, progressStream, codec } = this.context;
    const index = (this.index ??= new NatsEventIndex(codec));
    const [events, progress] = await Promise.all([jsm.streams.info(stream), jsm.streams.info(progressStream)]);
    index.dropBefore(events.state.first_seq);
    const from = Math.max(index.progressThrough + 1, progress.state.first_seq);
    await Promise.all([
      readStream(js, jsm, stream, index.eventsThrough + 1, events.state.last_seq, (message) => index.addEvent(message)),
      readStream(js, jsm, progressStream, from, progress.state.last_seq, (message) => index.addProgress(message)),
    ]);
    index.eventsThrough = Math.max(index.eventsThrough, events.state.last_seq);
    index.progressThrough = Math.max(index.progressThrough, progress.state.last_seq);
    return index;
  }
}
