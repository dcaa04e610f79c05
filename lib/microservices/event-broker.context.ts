import { BaseRpcContext } from '@nestjs/microservices';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import type { DeliveryInfo } from '../core/subscription.interface.js';

type EventBrokerContextArgs = [event: BrokerEvent, delivery: DeliveryInfo, pattern: string];

/** What `@Ctx()` gives an `@EventPattern` handler on `EventBrokerStrategy`. */
export class EventBrokerContext extends BaseRpcContext<EventBrokerContextArgs> {
  /** The whole event: id, type, source, retry count, user, session, metadata, timestamps. */
  getEvent<T = unknown>(): BrokerEvent<T> {
    return this.args[0] as BrokerEvent<T>;
  }

  /** Which delivery this call is: group, attempt, attempts allowed, transport. */
  getDelivery(): DeliveryInfo {
    return this.args[1];
  }

  /** The `@EventPattern` this call was matched by. */
  getPattern(): string {
    return this.args[2];
  }
}
