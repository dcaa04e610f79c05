import type { Consumer, Delivery, EventTransport, FlowControl } from '../../core/event-transport.interface.js';
import { eventually } from './conformance-context.js';

/** Flow control with a capacity the test sets: how many deliveries may be handed out and not settled. */
class SettableFlow implements FlowControl {
  outstanding = 0;
  private readonly waiters = new Set<() => void>();

  constructor(private limit: number) {}

  capacity(): number {
    return Math.max(0, this.limit - this.outstanding);
  }

  async whenReady(signal: AbortSignal, above = 0): Promise<void> {
    while (this.capacity() <= above && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.wake();
  }

  settled(): void {
    this.outstanding--;
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }
}

/** A consumer driven by the test: it records what it is handed and settles only when told. */
export interface TestConsumer {
  readonly group: string;
  /** Everything handed out, in order; settling one of them frees capacity. */
  readonly deliveries: Delivery[];
  readonly consumer: Consumer;
  setCapacity(capacity: number): void;
  /** Waits until `count` deliveries were handed out. */
  received(count: number): Promise<Delivery[]>;
}

/** Starts consuming `patterns` as `group`, taking at most `capacity` unsettled deliveries. */
export async function consumeAs(transport: EventTransport, group: string, patterns: string[], capacity = 100): Promise<TestConsumer> {
  const flow = new SettableFlow(capacity);
  const deliveries: Delivery[] = [];
  const settle =
    <A extends unknown[]>(how: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      await how(...args);
      flow.settled();
    };
  const track = (delivery: Delivery): Delivery => ({
    event: delivery.event,
    group: delivery.group,
    attempt: delivery.attempt,
    ack: settle(() => delivery.ack()),
    retry: settle((delayMs: number, error: string) => delivery.retry(delayMs, error)),
    deadLetter: settle((error: string, attempts?: number) => delivery.deadLetter(error, attempts)),
  });
  const consumer = await transport.consume(
    { group, patterns, consumerName: `conformance-${group}` },
    (delivery) => {
      flow.outstanding++;
      deliveries.push(track(delivery));
    },
    flow,
  );
  return {
    group,
    deliveries,
    consumer,
    setCapacity: (limit) => flow.setLimit(limit),
    async received(count) {
      await eventually(
        () => deliveries.length >= count,
        `${count} deliveries to group ${group}`,
        () => deliveries.map((delivery) => [delivery.event.type, delivery.attempt]),
      );
      return deliveries;
    },
  };
}
