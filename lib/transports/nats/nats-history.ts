import type { KV } from 'nats';
import { sleep } from '../../core/async-primitives.js';
import type { BrokerEvent, EventStatus } from '../../core/broker-event.interface.js';
import type { EventCodec } from '../event-codec.interface.js';
import { encodeName } from './nats-names.js';

type GroupOutcome = 'pending' | 'done' | 'failed';

/** The history record of one event, a JSON value in the history bucket. */
export interface HistoryRecord {
  /** The event as its messages carry it (encoded by the transport's codec). */
  event: string;
  status: EventStatus;
  error?: string;
  processedAt?: number;
  completedAt?: number;
  retryCount: number;
  /** How each group the event was routed to has fared. */
  groups: Record<string, GroupOutcome>;
}

const MAX_CONFLICTS = 50;

function isConflict(error: unknown): boolean {
  return error instanceof Error && /wrong last sequence|key exists/i.test(error.message);
}

/** The event a record stands for. */
export function recordEvent(codec: EventCodec, record: HistoryRecord): BrokerEvent {
  const event = codec.decode(record.event);
  event.status = record.status;
  event.retryCount = record.retryCount;
  if (record.error !== undefined) event.error = record.error;
  if (record.processedAt !== undefined) event.processedAt = new Date(record.processedAt);
  if (record.completedAt !== undefined) event.completedAt = new Date(record.completedAt);
  return event;
}

/** The status the outcomes of the groups make: failed if one failed, completed once none waits. */
export function settledStatus(record: HistoryRecord): EventStatus | undefined {
  const outcomes = Object.values(record.groups);
  if (outcomes.includes('failed')) return 'failed';
  if (!outcomes.includes('pending')) return 'completed';
  return undefined;
}

/** Records this process wrote last, with their revisions: kept up to this many characters of JSON. */
const KNOWN_RECORDS_CHARS = 16 * 1024 * 1024;

/**
 * History and status in a JetStream key-value bucket, updated with compare-and-set. The record a
 * process wrote last is kept, so that its next update of that event (the outcome after the
 * processing mark, say) is one round trip instead of a read and a write.
 */
export class NatsHistory {
  private readonly known = new Map<string, { json: string; revision: number }>();
  private knownChars = 0;

  constructor(private readonly kv: KV) {}

  /** Stores a new record; false when the event id is already known (a retried publish). */
  async create(id: string, record: HistoryRecord): Promise<boolean> {
    const json = JSON.stringify(record);
    try {
      this.remember(id, json, await this.kv.create(encodeName(id), json));
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  async get(id: string): Promise<HistoryRecord | null> {
    const entry = await this.kv.get(encodeName(id));
    return entry && entry.operation === 'PUT' ? entry.json<HistoryRecord>() : null;
  }

  /** Applies `change` (which says whether it changed anything) until no other writer interferes. */
  async update(id: string, change: (record: HistoryRecord) => boolean): Promise<boolean> {
    let current = this.known.get(id);
    let cached = current !== undefined;
    for (let conflicts = 0; conflicts < MAX_CONFLICTS; conflicts++) {
      if (!current) {
        const entry = await this.kv.get(encodeName(id));
        if (!entry || entry.operation !== 'PUT') return false;
        current = { json: entry.string(), revision: entry.revision };
        cached = false;
      }
      const record = JSON.parse(current.json) as HistoryRecord;
      if (!change(record)) {
        if (!cached) return true;
        // "Nothing to change" read from memory may be stale (another instance replayed it, say): read again.
        this.forget(id);
        current = undefined;
        continue;
      }
      const json = JSON.stringify(record);
      try {
        this.remember(id, json, await this.kv.update(encodeName(id), json, current.revision));
        return true;
      } catch (error) {
        if (!isConflict(error)) throw error;
        this.forget(id);
        current = undefined;
        // Several groups settle one event at once: step aside a little, at random, before trying again.
        await sleep(Math.random() * 5 * (conflicts + 1));
      }
    }
    throw new Error(`History record of event ${id} kept changing under ${MAX_CONFLICTS} updates`);
  }

  private remember(id: string, json: string, revision: number): void {
    this.forget(id);
    this.known.set(id, { json, revision });
    this.knownChars += json.length;
    while (this.knownChars > KNOWN_RECORDS_CHARS) this.forget(this.known.keys().next().value as string);
  }

  private forget(id: string): void {
    const known = this.known.get(id);
    if (!known) return;
    this.known.delete(id);
    this.knownChars -= known.json.length;
  }

  async delete(id: string): Promise<boolean> {
    this.forget(id);
    if (!(await this.get(id))) return false;
    await this.kv.delete(encodeName(id));
    return true;
  }

  /** Every record, in no particular order. */
  async all(): Promise<HistoryRecord[]> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    const records: HistoryRecord[] = [];
    for (let start = 0; start < keys.length; start += 100) {
      const entries = await Promise.all(keys.slice(start, start + 100).map((key) => this.kv.get(key)));
      for (const entry of entries) if (entry && entry.operation === 'PUT') records.push(entry.json<HistoryRecord>());
    }
    return records;
  }
}
