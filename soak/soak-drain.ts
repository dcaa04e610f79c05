import type { BrokerEvent, EventTransport } from 'nestjs-event-broker';
import type { SoakDrainResult } from './soak-verdict.interface.js';

const LOOKUP_CONCURRENCY = 32;
const POLL_MS = 1000;

/** Each event as the transport has it now (`null`: unknown), by id. */
export async function currentEvents(transport: EventTransport, ids: readonly string[]): Promise<Map<string, BrokerEvent | null>> {
  const events = new Map<string, BrokerEvent | null>();
  let next = 0;
  await Promise.all(
    Array.from({ length: LOOKUP_CONCURRENCY }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        events.set(id, await transport.get(id));
      }
    }),
  );
  return events;
}

const settled = (event: BrokerEvent | null | undefined): boolean => event?.status === 'completed' || event?.status === 'failed';

/**
 * Waits until no group has a delivery waiting or in flight and every event is completed or
 * failed, or until `timeoutMs` has passed.
 */
export async function waitUntilSettled(transport: EventTransport, ids: readonly string[], timeoutMs: number): Promise<SoakDrainResult> {
  const started = Date.now();
  const result = (done: boolean): SoakDrainResult => ({ settled: done, seconds: Math.round((Date.now() - started) / 100) / 10 });
  let unsettled = [...ids];
  while (Date.now() - started < timeoutMs) {
    const { groups } = await transport.stats();
    const idle = Object.values(groups).every((group) => group.pending === 0 && group.inFlight === 0);
    if (idle) {
      const events = await currentEvents(transport, unsettled);
      unsettled = unsettled.filter((id) => !settled(events.get(id)));
      if (unsettled.length === 0) return result(true);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return result(false);
}
