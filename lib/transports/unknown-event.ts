import { EventBrokerError } from '../core/event-broker.errors.js';
import { MAX_QUOTED_CHARS, printable } from '../core/quote-input.js';

/** What `updateStatus` throws for an event the history does not hold. */
export function unknownEvent(id: string): EventBrokerError {
  return new EventBrokerError(`Cannot update the status of event ${printable(id, MAX_QUOTED_CHARS)}: no such event in the history`);
}
