import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import type { Delivery } from '../../core/event-transport.interface.js';
import { SettleOnce, type Settlement } from '../settle-once.js';
import type { MemoryConsumer, MemoryGroup } from './memory-group.js';
import type { StoredEvent } from './stored-event.js';

/** What the transport does with a delivery's outcome. */
export interface MemoryOutcomes {
  acked(stored: StoredEvent): void;
  retryLater(group: MemoryGroup, stored: StoredEvent, nextAttempt: number, delayMs: number): void;
  deadLettered(stored: StoredEvent, group: string, error: string, attempts: number): void;
  /** Queues the delivery again, for any consumer of the group. */
  requeue(group: MemoryGroup, stored: StoredEvent, nextAttempt: number): void;
  /** An ordered group acked or dead-lettered it: its key's next delivery may go. */
  keyDone(group: MemoryGroup, stored: StoredEvent): void;
}

/**
 * One (event, group) pair handed to a consumer: settled once, or released back to the group. One
 * object per delivery, its methods on the prototype: handing out allocates no closures.
 */
export class MemoryDelivery implements Delivery {
  private copy?: BrokerEvent;
  private readonly guard: SettleOnce;

  constructor(
    readonly group: string,
    readonly attempt: number,
    private readonly stored: StoredEvent,
    /** The group's state; absent for a group claimed inline that has no consumer here. */
    private readonly home: MemoryGroup | undefined,
    /** The consumer it was handed to; absent when the publisher handles it inline. */
    private readonly consumer: MemoryConsumer | undefined,
    private readonly outcomes: MemoryOutcomes,
  ) {
    this.guard = new SettleOnce(stored.id, group);
    if (home) home.inFlight++;
    consumer?.unsettled.add(this);
  }

  /**
   * The handler's copy of the event, made when first read: a delivery waiting for a worker holds
   * no copy, so a full buffer of them costs the garbage collector little.
   */
  get event(): BrokerEvent {
    this.copy ??= this.stored.delivered(this.attempt);
    return this.copy;
  }

  async ack(): Promise<void> {
    if (!this.settle('ack')) return;
    this.outcomes.acked(this.stored);
    if (this.home?.turns) this.outcomes.keyDone(this.home, this.stored);
  }

  async retry(delayMs: number): Promise<void> {
    const home = this.home;
    if (!home) throw new EventBrokerError(`Cannot retry event ${this.stored.id} later: group ${this.group} has no consumer`);
    if (!this.settle('retry')) return;
    this.outcomes.retryLater(home, this.stored, this.attempt + 1, delayMs);
  }

  async deadLetter(error: string, attempts = this.attempt): Promise<void> {
    if (!this.settle('dead-letter')) return;
    this.outcomes.deadLettered(this.stored, this.group, error, attempts);
    if (this.home?.turns) this.outcomes.keyDone(this.home, this.stored);
  }

  /** Gives the delivery back to its group, unless it was settled; settling it afterwards does nothing. */
  release(): void {
    if (!this.guard.release()) return;
    this.leave();
    if (this.home) this.outcomes.requeue(this.home, this.stored, this.attempt + 1);
  }

  /** Whether the call settles the delivery; after a release it is ignored. */
  private settle(how: Settlement): boolean {
    if (!this.guard.settle(how)) return false;
    this.leave();
    return true;
  }

  private leave(): void {
    this.consumer?.unsettled.delete(this);
    if (this.home) {
      this.home.inFlight--;
      this.home.changed.notify();
    }
  }
}
