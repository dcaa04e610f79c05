import type { EventSource } from '../../core/broker-event.interface.js';
import { matchAnyPattern } from '../../core/match-pattern.js';
import type { EventCodec } from '../event-codec.interface.js';
import { HEADER_ONLY, HEADER_REPLAY_OF, HEADER_SKIP } from './nats-names.js';
import type { DeliveryRecord, StatusRecord } from './nats-progress-record.interface.js';
import { SeqColumns } from './nats-seq-columns.js';
import type { StreamMessage } from './nats-stream-reader.js';

/** What a message of the events stream is. */
export const MessageKind = { unread: 0, event: 1, copy: 2, unreadable: 3, deleted: 4 } as const;

/** The source and type of indexed events, held once per distinct pair. */
export interface IndexedType {
  source: EventSource;
  type: string;
  /** Whether a group's patterns (the array the registry holds) match the type. */
  routes: WeakMap<readonly string[], boolean>;
}

/** Groups past this many are remembered as acking in a map instead of a bit per sequence. */
const GROUP_BITS = 32;

/** FNV-1a over the UTF-16 code units: a 32-bit fingerprint of an event id. */
function fingerprint(id: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < id.length; index++) hash = Math.imul(hash ^ id.charCodeAt(index), 0x01000193);
  return hash >>> 0;
}

/** Strings held once, numbered from 1 (0 stands for none). */
class StringTable {
  private readonly numbers = new Map<string, number>();
  private readonly strings: string[] = [''];

  number(value: string | undefined): number {
    if (value === undefined) return 0;
    let number = this.numbers.get(value);
    if (number === undefined) {
      number = this.strings.push(value) - 1;
      this.numbers.set(value, number);
    }
    return number;
  }

  /** The number `value` has, 0 when it has none (no event carries it). */
  known(value: string): number {
    return this.numbers.get(value) ?? 0;
  }

  string(number: number): string | undefined {
    return number === 0 ? undefined : this.strings[number];
  }
}

/**
 * What the history needs to know of every message of one partition's events stream and of every
 * progress record about it, read once per process: per sequence the event id's fingerprint, its type, instance,
 * user and creation time, when its first delivery started, when a group last acked it, which
 * groups acked it and its highest attempt; the replayed copies, the groups a publisher handled
 * inline and the statuses set by hand. About 50 bytes per event; bodies are read again when shown.
 */
export class NatsEventIndex {
  private readonly seqs = new SeqColumns({
    fingerprint: Uint32Array,
    kind: Uint8Array,
    createdAt: Float64Array,
    type: Uint32Array,
    instance: Uint32Array,
    user: Uint32Array,
    startedAt: Float64Array,
    ackedAt: Float64Array,
    attempts: Uint16Array,
    ackedBy: Uint32Array,
  });
  private readonly types: IndexedType[] = [];
  private readonly typeNumbers = new Map<string, number>();
  private readonly strings = new StringTable();
  private readonly groupBits = new Map<string, number>();
  /** Acks of the groups past GROUP_BITS: group → sequences. */
  private readonly ackedBeyondBits = new Map<string, Set<number>>();
  /** Replayed copies: event sequence → group → sequence of its latest copy. */
  private readonly copies = new Map<number, Map<string, number>>();
  /** The groups a publisher handled inline, per sequence. */
  private readonly skips = new Map<number, readonly string[]>();
  private readonly overrides = new Map<number, StatusRecord>();
  /** The last sequence read of the events stream. */
  eventsThrough = 0;

  constructor(private readonly codec: EventCodec) {}

  get first(): number {
    return this.seqs.first;
  }

  /** Forgets what the events stream no longer holds. */
  dropBefore(seq: number): void {
    this.seqs.dropBefore(seq);
    this.eventsThrough = Math.max(this.eventsThrough, seq - 1);
  }

  addEvent(message: StreamMessage): void {
    this.eventsThrough = Math.max(this.eventsThrough, message.seq);
    const slot = this.seqs.slot(message.seq);
    if (slot < 0) return;
    const columns = this.seqs.columns;
    let event;
    try {
      event = this.codec.decode(message.body);
    } catch {
      columns.kind[slot] = MessageKind.unreadable;
      return;
    }
    columns.fingerprint[slot] = fingerprint(event.id);
    columns.createdAt[slot] = event.createdAt.getTime();
    columns.type[slot] = this.typeNumber(event.source, event.type);
    columns.instance[slot] = this.strings.number(event.instanceId);
    columns.user[slot] = this.strings.number(event.userId === undefined ? undefined : String(event.userId));
    const only = message.header(HEADER_ONLY);
    if (only !== undefined) {
      columns.kind[slot] = MessageKind.copy;
      const original = Number(message.header(HEADER_REPLAY_OF)) || this.find(event.id)[0];
      if (original === undefined) return;
      const copies = this.copies.get(original) ?? new Map<string, number>();
      copies.set(only, message.seq);
      this.copies.set(original, copies);
      return;
    }
    columns.kind[slot] = MessageKind.event;
    const skip = message.header(HEADER_SKIP);
    if (skip !== undefined) this.skips.set(message.seq, skip.split(','));
  }

  /** Adds a progress record of `kind` about the events of this partition. */
  addProgress(kind: string, message: StreamMessage): void {
    let record: unknown;
    try {
      record = JSON.parse(message.body);
    } catch {
      return;
    }
    if (kind === 'status') {
      const status = record as StatusRecord;
      this.overrides.set(status.s, { ...this.overrides.get(status.s), ...status });
      return;
    }
    const { t, started = {}, acked = {} } = record as DeliveryRecord;
    const columns = this.seqs.columns;
    for (const numbers of Object.values(started)) {
      for (let index = 0; index < numbers.length; index += 2) {
        const slot = this.seqs.slot(numbers[index]);
        if (slot < 0) continue;
        if (columns.startedAt[slot] === 0 || t < columns.startedAt[slot]) columns.startedAt[slot] = t;
        columns.attempts[slot] = Math.max(columns.attempts[slot], numbers[index + 1]);
      }
    }
    for (const [group, numbers] of Object.entries(acked)) {
      for (const seq of numbers) {
        const slot = this.seqs.slot(seq);
        if (slot < 0) continue;
        columns.ackedAt[slot] = Math.max(columns.ackedAt[slot], t);
        this.markAcked(group, seq, slot);
      }
    }
  }

  /** The sequences whose event may have `id`, newest first: read the message to be sure. */
  find(id: string): number[] {
    const wanted = fingerprint(id);
    const { fingerprint: fingerprints, kind } = this.seqs.columns;
    const found: number[] = [];
    for (let slot = this.seqs.last - this.seqs.first; slot >= 0; slot--) {
      if (fingerprints[slot] === wanted && kind[slot] === MessageKind.event) found.push(this.seqs.first + slot);
    }
    return found;
  }

  markDeleted(seq: number): void {
    const slot = this.seqs.find(seq);
    if (slot >= 0) this.seqs.columns.kind[slot] = MessageKind.deleted;
  }

  kind(seq: number): number {
    const slot = this.seqs.find(seq);
    return slot < 0 ? MessageKind.unread : this.seqs.columns.kind[slot];
  }

  type(seq: number): IndexedType {
    return this.types[this.seqs.columns.type[this.seqs.find(seq)] - 1];
  }

  createdAt(seq: number): number {
    return this.seqs.columns.createdAt[this.seqs.find(seq)];
  }

  instanceId(seq: number): string | undefined {
    return this.strings.string(this.seqs.columns.instance[this.seqs.find(seq)]);
  }

  /** The number of a user id as `user` holds it; 0 when no indexed event has it. */
  userNumber(userId: string): number {
    return this.strings.known(userId);
  }

  user(seq: number): number {
    return this.seqs.columns.user[this.seqs.find(seq)];
  }

  /** When the event's first delivery was handed out (ms), if recorded. */
  startedAt(seq: number): number | undefined {
    return this.seqs.columns.startedAt[this.seqs.find(seq)] || undefined;
  }

  /** When a group last acked the event (ms), if recorded. */
  ackedAt(seq: number): number | undefined {
    return this.seqs.columns.ackedAt[this.seqs.find(seq)] || undefined;
  }

  /** The highest attempt recorded for the event, 0 when none was. */
  attempts(seq: number): number {
    return this.seqs.columns.attempts[this.seqs.find(seq)];
  }

  acked(group: string, seq: number): boolean {
    const slot = this.seqs.find(seq);
    if (slot < 0) return false;
    const bit = this.groupBits.get(group);
    if (bit !== undefined) return (this.seqs.columns.ackedBy[slot] & (1 << bit)) !== 0;
    return this.ackedBeyondBits.get(group)?.has(seq) ?? false;
  }

  /** The sequence of the latest replayed copy of the event for `group`. */
  copy(seq: number, group: string): number | undefined {
    return this.copies.get(seq)?.get(group);
  }

  /** The groups the publisher handled inline. */
  skipped(seq: number): readonly string[] | undefined {
    return this.skips.get(seq);
  }

  /** The sequences of the replayed copies of the event. */
  copiesOf(seq: number): number[] {
    return [...(this.copies.get(seq)?.values() ?? [])];
  }

  override(seq: number): StatusRecord | undefined {
    return this.overrides.get(seq);
  }

  private markAcked(group: string, seq: number, slot: number): void {
    let bit = this.groupBits.get(group);
    if (bit === undefined && this.groupBits.size < GROUP_BITS) {
      bit = this.groupBits.size;
      this.groupBits.set(group, bit);
    }
    if (bit !== undefined) {
      this.seqs.columns.ackedBy[slot] |= 1 << bit;
      return;
    }
    const acked = this.ackedBeyondBits.get(group) ?? new Set<number>();
    acked.add(seq);
    this.ackedBeyondBits.set(group, acked);
  }

  private typeNumber(source: EventSource, type: string): number {
    const key = `${source} ${type}`;
    let number = this.typeNumbers.get(key);
    if (number === undefined) {
      number = this.types.push({ source, type, routes: new WeakMap() });
      this.typeNumbers.set(key, number);
    }
    return number;
  }
}

/** Whether `patterns` match the type, remembered per type and patterns array. */
export function routes(type: IndexedType, patterns: readonly string[]): boolean {
  let matches = type.routes.get(patterns);
  if (matches === undefined) {
    matches = matchAnyPattern(patterns, type.type);
    type.routes.set(patterns, matches);
  }
  return matches;
}
