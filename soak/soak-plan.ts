import { randomUUID } from 'node:crypto';
import { ALWAYS_FAIL_SHARE, FLAKY_GROUP, MAX_TRANSIENT_FAILURES, SOAK_GROUPS, TRANSIENT_SHARE } from './soak-constants.js';

/** The payload of a soak event: how its handlers behave, decided when the run is planned. */
export interface SoakPayload {
  seq: number;
  /** Per group: the handler fails on attempts up to this one, then succeeds. */
  transientFailures: Record<string, number>;
  /** The group whose handler always fails for this event (it must be dead-lettered there). */
  alwaysFailGroup: string | null;
}

export interface PlannedEvent {
  id: string;
  payload: SoakPayload;
}

/** `count` events with their fates: most succeed at once, some fail transiently, a few always fail in one group. */
export function planEvents(count: number, random: () => number = Math.random): PlannedEvent[] {
  return Array.from({ length: count }, (_, seq) => {
    const transientFailures: Record<string, number> = {};
    for (const group of SOAK_GROUPS) {
      transientFailures[group] = random() < TRANSIENT_SHARE ? 1 + Math.floor(random() * MAX_TRANSIENT_FAILURES) : 0;
    }
    return {
      id: randomUUID(),
      payload: { seq, transientFailures, alwaysFailGroup: random() < ALWAYS_FAIL_SHARE ? FLAKY_GROUP : null },
    };
  });
}

/** Whether the handler of `group` fails on `attempt` of this event. */
export function handlerFails(payload: SoakPayload, group: string, attempt: number): 'always' | 'transient' | false {
  if (payload.alwaysFailGroup === group) return 'always';
  return attempt <= (payload.transientFailures[group] ?? 0) ? 'transient' : false;
}
