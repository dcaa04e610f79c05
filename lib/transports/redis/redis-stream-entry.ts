import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { EventCodec } from '../event-codec.interface.js';

/** A stream entry as ioredis returns it: its id and its flat field/value list. */
export type StreamEntry = [id: string, fields: string[]];

/** The fields of an entry (or of an XINFO reply) by name. */
export function entryFields(fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let index = 0; index + 1 < fields.length; index += 2) record[fields[index]] = fields[index + 1];
  return record;
}

/** The event an entry carries, or `undefined` for a replayed dead letter (`only`) or an unreadable entry. */
export function entryEvent(fields: Record<string, string>, codec: EventCodec): BrokerEvent | undefined {
  if (fields.only !== undefined || fields.event === undefined) return undefined;
  try {
    return codec.decode(fields.event);
  } catch {
    return undefined;
  }
}
