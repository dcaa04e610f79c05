import { EventBrokerError } from '../../core/event-broker.errors.js';

/** A wait of `TestEvents` that ran out of time; the message says what was still pending. */
export class WaitTimeoutError extends EventBrokerError {
  override readonly name = 'WaitTimeoutError';
}
