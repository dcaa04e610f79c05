import type { BrokerEvent } from './broker-event.interface.js';

/** An (event, group) pair that exhausted its retries. */
export interface DeadLetter {
  /** Opaque, unique in the transport: the key for `replay`. */
  id: string;
  event: BrokerEvent;
  group: string;
  error: string;
  attempts: number;
  deadLetteredAt: Date;
}

export interface DeadLetterFilter {
  group?: string;
  limit?: number;
  offset?: number;
}

/** The (event, group) pairs that exhausted their retries, until they are replayed. */
export interface DeadLetterStore {
  deadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  /** Delivers a dead-lettered pair to its group again, as a first attempt. */
  replay(deadLetterId: string): Promise<void>;
}
