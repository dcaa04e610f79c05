import type { BrokerEvent } from '../core/broker-event.interface.js';
import { EventBrokerError } from '../core/event-broker.errors.js';
import type { Delivery } from '../core/event-transport.interface.js';
import { SettleOnce } from './settle-once.js';

/** How a transport records the outcome of a delivery the publisher handled inline. */
export interface InlineSettler {
  ack(): Promise<void>;
  deadLetter(error: string, attempts: number): Promise<void>;
}

/**
 * A delivery the publisher handles inline (sync mode): the broker retries it in place, so it is
 * only ever acked or dead-lettered, once.
 */
export function inlineDelivery(published: BrokerEvent, group: string, settler: InlineSettler): Delivery {
  const guard = new SettleOnce(published.id, group);
  return {
    event: { ...published, status: 'processing', retryCount: 0 },
    group,
    attempt: 1,
    ack: async () => {
      guard.settle('ack');
      await settler.ack();
    },
    retry: async () => {
      throw new EventBrokerError(`A delivery handled inline (sync mode) is retried inline, not later: event ${published.id}`);
    },
    deadLetter: async (error: string, attempts = 1) => {
      guard.settle('dead-letter');
      await settler.deadLetter(error, attempts);
    },
  };
}
