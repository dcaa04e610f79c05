import type { BrokerEvent } from '../../lib/index.js';

/** The `n` of each event's payload, for tests that publish `{ n }` payloads. */
export function payloadNumbers(events: readonly BrokerEvent[]): number[] {
  return events.map((event) => (event.payload as { n: number }).n);
}
