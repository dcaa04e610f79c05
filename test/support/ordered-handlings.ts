// What the instances of the ordering tests across instances printed (test/support/ordered-instance-process.mjs),
// put on one time line, and what in it breaks the order of a key.
import type { TestProcess } from './test-process.js';

/** One handling of one event by one instance, as the instance printed it. */
export interface Handling {
  key: string;
  n: number;
  instanceId: string;
  start: number;
  /** Absent when the instance was killed while it ran. */
  end?: number;
}

/** The handlings the instances printed, matched start to end per instance and event. */
export function handlings(instances: readonly TestProcess[]): Handling[] {
  const all: Handling[] = [];
  for (const { lines } of instances) {
    const running = new Map<number, Handling>();
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const record = JSON.parse(line) as { start?: number; end?: number; key: string; n: number; instanceId: string; error?: string };
      if (record.start !== undefined) {
        const handling = { key: record.key, n: record.n, instanceId: record.instanceId, start: record.start };
        running.set(record.n, handling);
        all.push(handling);
      } else if (record.end !== undefined) {
        const handling = running.get(record.n);
        if (handling) handling.end = record.end;
        running.delete(record.n);
      }
    }
  }
  return all.toSorted((left, right) => left.start - right.start);
}

/**
 * What broke the order of one key: a handling that began before the one before it had ended (two
 * at a time), or an event whose first handling began before an earlier event of the key had
 * first succeeded.
 */
export function orderViolations(handled: readonly Handling[]): string[] {
  const byKey = new Map<string, Handling[]>();
  for (const handling of handled) byKey.set(handling.key, [...(byKey.get(handling.key) ?? []), handling]);
  const violations: string[] = [];
  for (const [key, ofKey] of byKey) {
    for (let index = 1; index < ofKey.length; index++) {
      const before = ofKey[index - 1];
      const handling = ofKey[index];
      if (before.end !== undefined && handling.start < before.end) {
        violations.push(`${key}: event ${handling.n} began while event ${before.n} still ran (on ${before.instanceId})`);
      }
    }
    const firstSuccess = new Map<number, number>();
    for (const { n, end } of ofKey) if (end !== undefined && !firstSuccess.has(n)) firstSuccess.set(n, end);
    for (const handling of ofKey) {
      for (const [earlier, succeededAt] of firstSuccess) {
        if (earlier < handling.n && handling.start < succeededAt) {
          violations.push(`${key}: event ${handling.n} began before event ${earlier} first succeeded`);
        }
      }
    }
  }
  return violations;
}

/** Whether two handlings of different keys ran at the same time somewhere: keys run in parallel. */
export function keysOverlapped(handled: readonly Handling[]): boolean {
  return handled.some((handling, index) => {
    const next = handled[index + 1];
    return next !== undefined && handling.end !== undefined && next.key !== handling.key && next.start < handling.end;
  });
}
