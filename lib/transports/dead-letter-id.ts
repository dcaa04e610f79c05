import { DeadLetterNotFoundError } from '../core/event-broker.errors.js';
import { MAX_QUOTED_CHARS, printable } from '../core/quote-input.js';

/** Group names hold no `@`: the last one in a dead-letter id starts its group. */
const SEPARATOR = '@';

/** The id of a dead letter: where the transport keeps it (an entry id, a sequence, an event id) and its group. */
export function formatDeadLetterId(key: string, group: string): string {
  return `${key}${SEPARATOR}${group}`;
}

/** The parts of a dead-letter id; throws `DeadLetterNotFoundError` when `id` cannot be one. */
export function parseDeadLetterId(id: string): { key: string; group: string } {
  const separator = id.lastIndexOf(SEPARATOR);
  if (separator <= 0 || separator === id.length - 1) throw unknownDeadLetter(id);
  return { key: id.slice(0, separator), group: id.slice(separator + 1) };
}

export function unknownDeadLetter(id: string): DeadLetterNotFoundError {
  return new DeadLetterNotFoundError(`Cannot replay dead letter ${printable(id, MAX_QUOTED_CHARS)}: no such dead letter`);
}
