/** Base class of every error this package throws on purpose. */
export class EventBrokerError extends Error {
  override readonly name: string = 'EventBrokerError';
}

/** An event, type or payload that cannot be published as given. */
export class InvalidEventError extends EventBrokerError {
  override readonly name = 'InvalidEventError';
}

/** A subscription pattern that can never match as written. */
export class InvalidPatternError extends EventBrokerError {
  override readonly name = 'InvalidPatternError';
}

/** A dead letter id that the transport does not hold (never did, or it was replayed or evicted). */
export class DeadLetterNotFoundError extends EventBrokerError {
  override readonly name = 'DeadLetterNotFoundError';
}

/** A call the broker cannot take in its current state (not started, stopped). */
export class BrokerStateError extends EventBrokerError {
  override readonly name = 'BrokerStateError';
}
