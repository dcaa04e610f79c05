import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { EventBrokerError, InvalidEventError, InvalidPatternError } from '../../core/event-broker.errors.js';
import { quote } from '../../core/quote-input.js';
import { encodeName } from './nats-names.js';
import type { ProgressKind } from './nats-progress-record.interface.js';

/**
 * Where events go in the stream:
 * - `prefix.source.type` (default): `<prefix>.<source>.<type>`, so that subscribers may filter by source;
 * - `type`: the subject is the type itself, which starts with `<prefix>.` (as other services publish
 *   `auth.user.created` into a stream of `auth.>`).
 */
export type NatsSubjectLayout = 'prefix.source.type' | 'type';

/** Where an event is: its partition and its sequence in that partition's stream. */
export interface NatsPosition {
  partition: number;
  seq: number;
}

/**
 * The subjects of a stream name's events, dead letters and progress records, for `partitions`
 * partitions. With one partition (the layout of the versions before partitions) an event is on
 * `<prefix>.<source>.<type>`, its dead letter of a group on `<prefix>-dlq.<group>.<seq>`, the
 * progress records on `<prefix>-progress.<kind>`. With n > 1, partition p's events are on
 * `<prefix>.p<p>.<source>.<type>`, its dead letters on `<prefix>-dlq.<group>.<p>.<seq>` and its
 * progress records on `<prefix>-progress.p<p>.<kind>`: a record's subject says which partition
 * its sequences are in, and its body keeps the one-partition format.
 */
export class NatsSubjects {
  constructor(
    private readonly prefix: string,
    private readonly layout: NatsSubjectLayout,
    readonly partitions = 1,
  ) {
    if (layout !== 'prefix.source.type' && layout !== 'type') {
      throw new InvalidEventError(`NatsTransport option subjectLayout must be 'prefix.source.type' or 'type', got ${quote(layout)}`);
    }
    if (layout === 'type' && partitions > 1) {
      throw new EventBrokerError(
        `NatsTransport option subjectLayout 'type' cannot be used with partitions ${partitions}: the subject of a partitioned event ` +
          `carries its partition (<prefix>.p<partition>.<source>.<type>); keep partitions 1, or use subjectLayout 'prefix.source.type'`,
      );
    }
  }

  /** The first token of partition `partition`'s subjects after the prefix (none with one partition). */
  private base(partition: number): string {
    return this.partitions === 1 ? this.prefix : `${this.prefix}.p${partition}`;
  }

  /** The subjects of the stream of `partition`. */
  all(partition: number): string {
    return `${this.base(partition)}.>`;
  }

  /** The subjects of the dead-letter stream. */
  get deadLetters(): string {
    return `${this.prefix}-dlq.>`;
  }

  /**
   * Where a dead letter of `group` goes: after the encoded group, the position of the event's
   * message (its sequence, preceded by its partition when there are several), so that the dead
   * letters of an event are found by subject.
   */
  deadLetter(group: string, { partition, seq }: NatsPosition): string {
    return `${this.prefix}-dlq.${encodeName(group)}.${this.positionTokens(partition, seq)}`;
  }

  /** The dead-letter subjects of the event at `position`, in every group. */
  deadLettersOf({ partition, seq }: NatsPosition): string {
    return `${this.prefix}-dlq.*.${this.positionTokens(partition, seq)}`;
  }

  /** The dead-letter subjects of every event, in every group. */
  get everyDeadLetter(): string {
    return `${this.prefix}-dlq.*.${this.positionTokens('*', '*')}`;
  }

  /** The group (encoded) and the event's position a dead-letter subject names; `undefined` for another subject. */
  parseDeadLetter(subject: string): { groupToken: string; position: NatsPosition } | undefined {
    const tokens = subject.split('.');
    if (tokens.length !== (this.partitions === 1 ? 3 : 4)) return undefined;
    const partition = this.partitions === 1 ? 0 : Number(tokens[2]);
    return { groupToken: tokens[1], position: { partition, seq: Number(tokens.at(-1)) } };
  }

  private positionTokens(partition: number | '*', seq: number | '*'): string {
    return this.partitions === 1 ? String(seq) : `${partition}.${seq}`;
  }

  /** The subjects of the progress stream. */
  get progress(): string {
    return `${this.prefix}-progress.>`;
  }

  /** Where the progress records of one kind about `partition`'s events go. */
  progressOf(kind: ProgressKind, partition: number): string {
    return this.partitions === 1 ? `${this.prefix}-progress.${kind}` : `${this.prefix}-progress.p${partition}.${kind}`;
  }

  /** The partition and kind of a progress record's subject; `undefined` for a partition this layout has not. */
  parseProgress(subject: string): { partition: number; kind: string } | undefined {
    const tokens = subject.split('.');
    const kind = tokens.at(-1) ?? '';
    if (this.partitions === 1) return tokens.length === 2 ? { partition: 0, kind } : undefined;
    const partition = Number(/^p(\d+)$/.exec(tokens[1] ?? '')?.[1]);
    return tokens.length === 3 && partition < this.partitions ? { partition, kind } : undefined;
  }

  /** The subject of `event` in `partition`. */
  of(event: BrokerEvent, partition: number): string {
    if (this.layout === 'prefix.source.type') return `${this.base(partition)}.${event.source}.${event.type}`;
    if (!event.type.startsWith(`${this.prefix}.`)) {
      throw new InvalidEventError(
        `Event type ${quote(event.type)} cannot be published on NATS subjects laid out by type: it must start with the subject prefix "${this.prefix}."`,
      );
    }
    return event.type;
  }

  /**
   * The server-side filter of a group in `partition`: a single pattern maps onto the subject
   * (`*` stays `*`, a trailing `**` becomes `>`); several patterns read everything and are
   * filtered by the client (servers before 2.10 allow one filter per consumer).
   */
  filter(patterns: readonly string[], partition: number): string {
    if (patterns.length !== 1) return this.all(partition);
    const [pattern] = patterns;
    if (pattern === '*' || pattern === '**') return this.all(partition);
    if (pattern.includes(' ')) throw new InvalidPatternError(`Invalid event pattern: "${pattern}"`);
    const subject = pattern.replace(/\*\*$/, '>');
    if (this.layout === 'prefix.source.type') return `${this.base(partition)}.*.${subject}`;
    // A pattern that does not start with the prefix (`*.user.created`) reads the whole stream, filtered by the client.
    return subject.startsWith(`${this.prefix}.`) ? subject : this.all(partition);
  }
}
