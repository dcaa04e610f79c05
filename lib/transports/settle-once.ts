import { EventBrokerError } from '../core/event-broker.errors.js';

/** How a delivery is settled. */
export type Settlement = 'ack' | 'retry' | 'dead-letter';

/**
 * The state of one delivery handed to a consumer: settled once; settling it twice is a bug and
 * throws; once released (given back to the group for another consumer) settling it does nothing.
 */
export class SettleOnce {
  private state: 'open' | 'settled' | 'released' = 'open';

  constructor(
    private readonly eventId: string,
    private readonly group: string,
  ) {}

  /** Whether this call settles the delivery (false once it was released). */
  settle(how: Settlement): boolean {
    if (this.state === 'released') return false;
    if (this.state === 'settled') {
      throw new EventBrokerError(`Delivery of event ${this.eventId} to group ${this.group} was already settled; cannot ${how} it`);
    }
    this.state = 'settled';
    return true;
  }

  /** Whether the delivery was still open: only then is it given back. */
  release(): boolean {
    if (this.state !== 'open') return false;
    this.state = 'released';
    return true;
  }
}
