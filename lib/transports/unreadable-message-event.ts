import type { BrokerEvent } from '../core/broker-event.interface.js';

/** The type of the event a dead letter shows for a message nobody could read. */
export const UNREADABLE_MESSAGE_TYPE = 'eventbroker.message.malformed';

/** The event a dead letter shows for a message nobody could read: its raw body as the payload, with the reason. */
export function unreadableMessageEvent(id: string, body: string | null, error: string, deadLetteredAt: Date): BrokerEvent {
  return {
    id,
    source: 'system',
    type: UNREADABLE_MESSAGE_TYPE,
    status: 'failed',
    payload: { body },
    instanceId: '',
    createdAt: deadLetteredAt,
    metadata: {},
    retryCount: 0,
    error,
  };
}
