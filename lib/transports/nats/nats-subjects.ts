import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { InvalidEventError, InvalidPatternError } from '../../core/event-broker.errors.js';
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

export class NatsSubjects {
  constructor(
    private readonly prefix: string,
    private readonly layout: NatsSubjectLayout,
  ) {
    if (layout !== 'prefix.source.type' && layout !== 'type') {
      throw new InvalidEventError(`NatsTransport option subjectLayout must be 'prefix.source.type' or 'type', got ${quote(layout)}`);
    }
  }

  /** The subjects of the stream. */
  get all(): string {
    return `${this.prefix}.>`;
  }

  /** The subjects of the dead-letter stream. */
  get deadLetters(): string {
    return `${this.prefix}-dlq.>`;
  }

  /**
   * Where a dead letter of `group` goes: `<prefix>-dlq.<encoded group>.<sequence>`, the sequence
   * of the event's message in the events stream, so that the dead letters of an event are found
   * by subject.
   */
  deadLetter(group: string, seq: number | '*'): string {
    return `${this.prefix}-dlq.${encodeName(group)}.${seq}`;
  }

  /** The dead-letter subjects of the event at `seq`, in every group. */
  deadLettersOf(seq: number): string {
    return `${this.prefix}-dlq.*.${seq}`;
  }

  /** The subjects of the progress stream. */
  get progress(): string {
    return `${this.prefix}-progress.>`;
  }

  /** Where the progress records of one kind go. */
  progressOf(kind: ProgressKind): string {
    return `${this.prefix}-progress.${kind}`;
  }

  /** The subject of `event`. */
  of(event: BrokerEvent): string {
    if (this.layout === 'prefix.source.type') return `${this.prefix}.${event.source}.${event.type}`;
    if (!event.type.startsWith(`${this.prefix}.`)) {
      throw new InvalidEventError(
        `Event type ${quote(event.type)} cannot be published on NATS subjects laid out by type: it must start with the subject prefix "${this.prefix}."`,
      );
    }
    return event.type;
  }

  /**
   * The server-side filter of a group: a single pattern maps onto the subject (`*` stays `*`, a
   * trailing `**` becomes `>`); several patterns read everything and are filtered by the client
   * (servers before 2.10 allow one filter per consumer).
   */
  filter(patterns: readonly string[]): string {
    if (patterns.length !== 1) return this.all;
    const [pattern] = patterns;
    if (pattern === '*' || pattern === '**') return this.all;
    if (pattern.includes(' ')) throw new InvalidPatternError(`Invalid event pattern: "${pattern}"`);
    const subject = pattern.replace(/\*\*$/, '>');
    if (this.layout === 'prefix.source.type') return `${this.prefix}.*.${subject}`;
    // A pattern that does not start with the prefix (`*.user.created`) reads the whole stream, filtered by the client.
    return subject.startsWith(`${this.prefix}.`) ? subject : this.all;
  }
}
