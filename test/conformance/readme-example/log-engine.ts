import { matchPattern, type BrokerEvent, type DeadLetter } from 'nestjs-event-broker';
import { formatDeadLetterId } from 'nestjs-event-broker/transport-kit';

/** One message of the log: a CloudEvents body, and the groups it is (not) for. */
export interface LogEntry {
  readonly body: string;
  /** Groups the publisher handled inline. */
  readonly skip?: readonly string[];
  /** The one group a replayed dead letter is for. */
  readonly only?: string;
}

/** A message a group read and has not settled: leased to a consumer, or waiting for its retry. */
export interface PendingEntry {
  readonly seq: number;
  deliveries: number;
  leasedTo?: string;
  /** When the lease ends or the retry is due: then any consumer of the group may claim it. */
  dueAt: number;
}

interface LogGroup {
  readonly patterns: readonly string[];
  cursor: number;
  readonly pending: Map<number, PendingEntry>;
}

interface HistoryRecord {
  event: BrokerEvent;
  /** The groups that had to ack it: those known when it was published, and those that took it inline. */
  readonly routedTo: ReadonlySet<string>;
  readonly ackedBy: Set<string>;
}

/**
 * A tiny in-process log server, shared by the transports of one test as a durable store would be:
 * an append-only log, consumer groups with a cursor and pending entries, dead letters and history.
 */
export class LogEngine {
  readonly log: LogEntry[] = [];
  readonly groups = new Map<string, LogGroup>();
  readonly history = new Map<string, HistoryRecord>();
  readonly deadLetters: DeadLetter[] = [];
  /** Called with each event stored from now on (live tails). */
  readonly listeners = new Set<(event: BrokerEvent) => void>();

  /** Stores a copy of the event and appends its body. */
  publish(event: BrokerEvent, body: string, claimGroups: readonly string[]): number {
    this.remember(event, claimGroups);
    return this.append({ body, skip: claimGroups });
  }

  /**
   * Adds the event to the history, routed to the groups whose patterns match it and to `claimGroups`;
   * `completed` at once when no group is routed. Consumers call it too, for events another program
   * appended: those enter the history when a group first reads them.
   */
  remember(event: BrokerEvent, claimGroups: readonly string[] = []): void {
    if (this.history.has(event.id)) return;
    const routedTo = new Set(claimGroups);
    for (const [name, group] of this.groups) {
      if (group.patterns.some((pattern) => matchPattern(pattern, event.type))) routedTo.add(name);
    }
    const status = routedTo.size === 0 ? { status: 'completed' as const, completedAt: new Date() } : { status: 'pending' as const };
    const record = { event: { ...structuredClone(event), ...status }, routedTo, ackedBy: new Set<string>() };
    this.history.set(event.id, record);
    for (const listener of this.listeners) listener(structuredClone(record.event));
  }

  append(entry: LogEntry): number {
    return this.log.push(entry) - 1;
  }

  join(name: string, patterns: readonly string[], fromBeginning: boolean): void {
    if (!this.groups.has(name)) this.groups.set(name, { patterns, cursor: fromBeginning ? 0 : this.log.length, pending: new Map() });
  }

  /** Claims the group's due pending entries, then reads new ones, `count` at most. */
  read(name: string, consumer: string, count: number, leaseMs: number): PendingEntry[] {
    const group = this.group(name);
    const now = Date.now();
    const claimed = [...group.pending.values()].filter((entry) => entry.dueAt <= now).slice(0, count);
    while (claimed.length < count && group.cursor < this.log.length) {
      const entry = { seq: group.cursor++, deliveries: 0, dueAt: 0 };
      group.pending.set(entry.seq, entry);
      claimed.push(entry);
    }
    for (const entry of claimed) Object.assign(entry, { deliveries: entry.deliveries + 1, leasedTo: consumer, dueAt: now + leaseMs });
    return claimed;
  }

  /** The group acked the event: it completes once every group it was routed to did. */
  acked(name: string, eventId: string): void {
    const record = this.history.get(eventId);
    record?.ackedBy.add(name);
    if (record && [...record.routedTo].every((group) => record.ackedBy.has(group))) {
      this.update(eventId, { status: 'completed', completedAt: new Date() });
    }
  }

  /** The pair goes to the dead letters and its event fails, with what the last attempt said. */
  deadLetter(name: string, seq: number, event: BrokerEvent, error: string, attempts: number): void {
    this.settle(name, [seq]);
    const failed = { status: 'failed', error, retryCount: attempts - 1 } as const;
    const id = formatDeadLetterId(String(seq), name);
    this.deadLetters.push({ id, group: name, event: { ...event, ...failed }, error, attempts, deadLetteredAt: new Date() });
    this.update(event.id, failed);
  }

  /** Changes the stored event, if the history still has it. */
  update(eventId: string, change: Partial<BrokerEvent>): void {
    const record = this.history.get(eventId);
    if (record) record.event = { ...record.event, ...change };
  }

  settle(name: string, seqs: readonly number[]): void {
    for (const seq of seqs) this.group(name).pending.delete(seq);
  }

  /** Makes the entries due again after `delayMs`, for any consumer of the group. */
  postpone(name: string, seqs: readonly number[], delayMs: number): void {
    for (const entry of this.pendingOf(name, seqs)) Object.assign(entry, { leasedTo: undefined, dueAt: Date.now() + delayMs });
  }

  renew(name: string, seqs: readonly number[], leaseMs: number): void {
    for (const entry of this.pendingOf(name, seqs)) entry.dueAt = Date.now() + leaseMs;
  }

  group(name: string): LogGroup {
    const group = this.groups.get(name);
    if (!group) throw new Error(`Log group ${name} does not exist`);
    return group;
  }

  private pendingOf(name: string, seqs: readonly number[]): PendingEntry[] {
    const { pending } = this.group(name);
    return seqs.flatMap((seq) => pending.get(seq) ?? []);
  }
}
