import type { Signal, WaitQueue } from '../../core/async-primitives.js';
import type { Delivery, FlowControl } from '../../core/event-transport.interface.js';
import type { FifoQueue } from '../../core/fifo-queue.js';
import type { KeyTurns } from './memory-key-turns.js';
import type { StoredEvent } from './stored-event.js';

/** A delivery waiting in its group's queue for a consumer with room. */
export interface PendingDelivery {
  stored: StoredEvent;
  attempt: number;
}

/** One consumer of a group: the broker instance it feeds, and what it holds unsettled. */
export interface MemoryConsumer {
  readonly onDelivery: (delivery: Delivery) => void;
  readonly flow: FlowControl;
  readonly abort: AbortController;
  /** Its deliveries handed out and not settled yet: `release` gives them back to the group. */
  readonly unsettled: Set<{ release(): void }>;
}

/** A consumer group: the deliveries waiting for it, shared by its competing consumers. */
export interface MemoryGroup {
  readonly name: string;
  patterns: readonly string[];
  /** An ordered group's turns of keys; absent for a group that is not ordered. */
  turns: KeyTurns | undefined;
  readonly ready: FifoQueue<PendingDelivery>;
  readonly retryTimers: Set<NodeJS.Timeout>;
  /** Open consumers, taking turns for deliveries handed over directly. */
  readonly consumers: MemoryConsumer[];
  /** Where the next direct hand-over starts looking, so that the consumers take turns. */
  turn: number;
  inFlight: number;
  /** Notified when a delivery is queued: wakes the consumers' feed loops. */
  readonly queued: Signal;
  /** Publishes held back while the queue is full, woken one per delivery taken from it. */
  readonly room: WaitQueue;
  /** Notified when the queue shrinks or a delivery settles: wakes `drained`. */
  readonly changed: Signal;
}
