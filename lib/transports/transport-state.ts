import { BrokerStateError } from '../core/event-broker.errors.js';

/**
 * Whether a transport is open, and what its `connect` made (a client, a pool): every transport
 * checks its state through one of these, so that each situation has one error text.
 */
export class TransportState<C = never> {
  private isClosed = false;
  private connection?: C;

  /** `name` starts the error texts: the transport's class name. */
  constructor(private readonly name: string) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** What `connect` made; kept after `close`, which releases it. */
  get made(): C | undefined {
    return this.connection;
  }

  /** Records what `connect` made: from now on `connected()` gives it. */
  connectedWith(connection: C): void {
    this.connection = connection;
  }

  assertOpen(): void {
    if (this.isClosed) throw new BrokerStateError(`${this.name} is closed`);
  }

  /** What `connect` made; throws while the transport is not connected or once it is closed. */
  connected(): C {
    this.assertOpen();
    if (this.connection === undefined) {
      throw new BrokerStateError(`${this.name} is not connected: call connect() (EventBroker.start does)`);
    }
    return this.connection;
  }

  /** Marks the transport closed; whether it was open (closing again has nothing to do). */
  close(): boolean {
    if (this.isClosed) return false;
    this.isClosed = true;
    return true;
  }
}
