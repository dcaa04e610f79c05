import type { BrokerEvent } from '../core/broker-event.interface.js';

/** A message a transport read or claimed for a group, before the consumer loop decides what to do with it. */
export interface ReceivedMessage<M> {
  /** What the transport settles it by: a stream entry id, a JetStream message, an event id. */
  readonly message: M;
  /** Unique among the group's unsettled messages. */
  readonly key: string;
  /** Names the message in logs, after `Unreadable message`: an entry id, `7 on events.a.b`. */
  readonly description: string;
  /** 1 on the first delivery of the pair, then one more per redelivery. */
  readonly attempt: number;
  /** The message as the codec reads it; `undefined` when the message has none. */
  readonly body?: string;
  /** The event, when the transport stores events already decoded; otherwise decoded from `body`. */
  readonly event?: BrokerEvent;
  /**
   * The engine routed it to this group when it was stored (a table's routing by the group's
   * patterns then): the consumer does not match it against the group's patterns again, which may
   * have changed since.
   */
  readonly routed?: boolean;
  /** The one group the publisher meant it for (a delivery the publisher handled inline). */
  readonly only?: string;
  /** Groups the publisher handled inline: their consumers pass it by. */
  readonly skip?: readonly string[];
}
