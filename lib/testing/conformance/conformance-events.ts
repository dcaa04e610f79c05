import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { createEvent, type CreateEventInput } from '../../core/create-event.js';

/** An hour ago, on a whole second: events stamped from here on sort by `createdAt` and are within every retention. */
const EPOCH = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
let stamped = 0;

/** A new `createdAt`, one second after the one before: history order is the order of the calls. */
export function nextCreatedAt(): Date {
  stamped++;
  return new Date(EPOCH + stamped * 1000);
}

/** A `pending` event with its own `createdAt`, later than every event made before it. */
export function makeEvent(type: string, input: Partial<CreateEventInput> = {}): BrokerEvent {
  return createEvent({ type, source: 'internal', instanceId: 'conformance', payload: { type }, createdAt: nextCreatedAt(), ...input });
}

export const ids = (events: readonly { id: string }[]): string[] => events.map((event) => event.id);
