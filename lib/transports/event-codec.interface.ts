import type { BrokerEvent } from '../core/broker-event.interface.js';

/**
 * How events are written as, and read from, the messages of a transport (Redis stream entries,
 * NATS messages). The default is CloudEvents JSON; a codec reads (and writes) another envelope.
 */
export interface EventCodec {
  /** The message body of `event`. */
  encode(event: BrokerEvent): string;
  /**
   * The event a message body stands for. Throws (an `InvalidEventError` naming the problem) for
   * a body it cannot read: the message then goes to the dead letters with that reason.
   */
  decode(body: string): BrokerEvent;
}
