import { headers as createHeaders, type JetStreamClient, type JetStreamManager, type StoredMsg } from 'nats';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { DeadLetter, DeadLetterFilter } from '../../core/dead-letter-store.interface.js';
import { formatDeadLetterId, parseDeadLetterId, unknownDeadLetter } from '../dead-letter-id.js';
import type { EventCodec } from '../event-codec.interface.js';
import { newestWindow } from '../event-filter.js';
import { unreadableMessageEvent } from '../unreadable-message-event.js';
import { decodeName, HEADER_ATTEMPTS, HEADER_DEAD_AT, HEADER_ERROR, HEADER_GROUP } from './nats-names.js';
import { readStream, type StreamMessage } from './nats-stream-reader.js';
import type { NatsPosition, NatsSubjects } from './nats-subjects.js';
import { isNotFound } from './nats-errors.js';
import { waitingForLeader, type LeaderWait } from './nats-leader-election.js';

/** The dead letter of an event in one group, as its status needs it. */
export interface Failure {
  group: string;
  error: string;
  attempts: number;
  /** Its sequence in the dead-letter stream: the latest one's error is the event's. */
  seq: number;
}

/** A dead letter taken for a replay: where it is, its group, and the position of its event. */
export interface StoredDeadLetter {
  stored: StoredMsg;
  group: string;
  /** Where its event is; sequence 0 for a dead letter of the earliest layout whose event was gone when it was moved. */
  event: NatsPosition;
}

/** Per partition, per event sequence: the groups holding a dead letter of it. */
export type FailedGroups = Map<number, Map<number, string[]>>;

/**
 * The dead-letter stream, one for every partition: one message per dead-lettered (event, group)
 * pair, on `<prefix>-dlq.<encoded group>.<event sequence>` (`….<partition>.<event sequence>` with
 * several partitions), the event as its message carried it with the group, error, attempts and
 * time as headers. An event is failed while a subject of its position holds a message.
 */
export class NatsDeadLetters {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    private readonly leaderWait: LeaderWait,
    private readonly subjects: NatsSubjects,
    private readonly codec: EventCodec,
  ) {}

  /** Stores a dead letter of `group` for the event at `event` in the events streams. */
  async add(group: string, event: NatsPosition, body: string, error: string, attempts: number): Promise<void> {
    const headers = createHeaders();
    headers.set(HEADER_GROUP, group);
    headers.set(HEADER_ERROR, error.replace(/[\r\n]+/g, ' '));
    headers.set(HEADER_ATTEMPTS, String(attempts));
    headers.set(HEADER_DEAD_AT, String(Date.now()));
    await waitingForLeader(this.leaderWait, () => this.js.publish(this.subjects.deadLetter(group, event), body, { headers }));
  }

  /** The groups holding a dead letter of the event at `position`, read from the subjects alone. */
  async groupsOf(position: NatsPosition): Promise<string[]> {
    const failed = await this.failedGroups(this.subjects.deadLettersOf(position));
    return [...(failed.get(position.partition)?.values() ?? [])].flat();
  }

  /** Per partition and event sequence, the groups holding a dead letter of it. */
  async all(): Promise<FailedGroups> {
    return this.failedGroups(this.subjects.everyDeadLetter);
  }

  /** The dead letters of the event at `position` in `groups`, latest last. */
  async failures(position: NatsPosition, groups: readonly string[]): Promise<Failure[]> {
    const stored = await Promise.all(
      groups.map((group) =>
        this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subjects.deadLetter(group, position) }).catch((error: unknown) => {
          if (isNotFound(error)) return undefined;
          throw error;
        }),
      ),
    );
    return stored
      .filter((message) => message !== undefined)
      .map((message) => ({
        group: message.header.get(HEADER_GROUP),
        error: message.header.get(HEADER_ERROR),
        attempts: Number(message.header.get(HEADER_ATTEMPTS) || 1),
        seq: message.seq,
      }))
      .toSorted((a, b) => a.seq - b.seq);
  }

  /** Dead letters per group: the count of each and the total. */
  async counts(): Promise<{ total: number; byGroup: Map<string, number> }> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: this.subjects.deadLetters });
    const byGroup = new Map<string, number>();
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
      const group = decodeName(subject.split('.')[1] ?? '');
      byGroup.set(group, (byGroup.get(group) ?? 0) + count);
    }
    return { total: info.state.messages, byGroup };
  }

  async list(filter: DeadLetterFilter): Promise<DeadLetter[]> {
    const info = await this.jsm.streams.info(this.stream);
    const letters: DeadLetter[] = [];
    await readStream(this.js, this.jsm, this.stream, info.state.first_seq, info.state.last_seq, (message) => {
      const letter = this.deadLetter(message);
      if (filter.group === undefined || letter.group === filter.group) letters.push(letter);
    });
    return newestWindow(letters, filter);
  }

  /** The dead letter `id` names; throws `DeadLetterNotFoundError` when there is none. */
  async take(id: string): Promise<StoredDeadLetter> {
    const { key, group } = parseDeadLetterId(id);
    const seq = Number(key);
    if (!Number.isInteger(seq)) throw unknownDeadLetter(id);
    let stored: StoredMsg;
    try {
      stored = await this.jsm.streams.getMessage(this.stream, { seq });
    } catch {
      throw unknownDeadLetter(id);
    }
    const parsed = this.subjects.parseDeadLetter(stored.subject);
    return { stored, group, event: parsed?.position ?? { partition: 0, seq: 0 } };
  }

  async remove(seq: number): Promise<void> {
    await this.jsm.streams.deleteMessage(this.stream, seq);
  }

  private async failedGroups(filter: string): Promise<FailedGroups> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: filter });
    const failed: FailedGroups = new Map();
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const parsed = this.subjects.parseDeadLetter(subject);
      if (!parsed) continue;
      const { partition, seq } = parsed.position;
      let bySeq = failed.get(partition);
      if (!bySeq) failed.set(partition, (bySeq = new Map()));
      const list = bySeq.get(seq);
      if (list) list.push(decodeName(parsed.groupToken));
      else bySeq.set(seq, [decodeName(parsed.groupToken)]);
    }
    return failed;
  }

  private deadLetter(message: StreamMessage): DeadLetter {
    const group = message.header(HEADER_GROUP) ?? '';
    const error = message.header(HEADER_ERROR) ?? '';
    const attempts = Number(message.header(HEADER_ATTEMPTS) || 1);
    const deadLetteredAt = new Date(Number(message.header(HEADER_DEAD_AT)) || 0);
    let event: BrokerEvent;
    try {
      event = this.codec.decode(message.body);
      event.status = 'failed';
      event.error = error;
      event.retryCount = attempts - 1;
    } catch {
      event = unreadableMessageEvent(`${this.stream}:${message.seq}`, message.body, error, deadLetteredAt);
    }
    return { id: formatDeadLetterId(String(message.seq), group), event, group, error, attempts, deadLetteredAt };
  }
}
