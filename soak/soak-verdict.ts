import type { BrokerEvent, DeadLetter } from 'nestjs-event-broker';
import { countWarningsAndErrors } from './log-kinds.js';
import type { LogLine } from './file-logger.js';
import { SOAK_GROUPS } from './soak-constants.js';
import type { PlannedEvent } from './soak-plan.js';
import type { UnexpectedExit } from './soak-process.js';
import type { HandledRecord } from './soak-records.js';
import type { SoakDrainResult, SoakVerdict } from './soak-verdict.interface.js';

/** Everything a run observed, gathered once it has drained and stopped. */
export interface SoakObservations {
  transport: string;
  runId: string;
  seconds: number;
  plan: readonly PlannedEvent[];
  acknowledged: ReadonlySet<string>;
  /** Events the killed producer had started publishing and not seen acknowledged. */
  unacknowledgedAtProducerKill: number;
  workersKilled: number;
  producersKilled: number;
  handled: readonly HandledRecord[];
  /** The final state of each acknowledged event, as `transport.get` gives it. */
  finalEvents: ReadonlyMap<string, BrokerEvent | null>;
  deadLetters: Readonly<Record<string, readonly DeadLetter[]>>;
  logLines: readonly LogLine[];
  unexpectedExits: readonly UnexpectedExit[];
  drain: SoakDrainResult;
}

const EXAMPLES = 5;

function percentile(sorted: readonly number[], fraction: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

/** The verdict of a run: what went wrong, counted, and whether it passed. */
export function soakVerdict(run: SoakObservations): SoakVerdict {
  const planned = new Map(run.plan.map((event) => [event.id, event.payload]));
  const acknowledged = [...run.acknowledged];

  const handledCount = new Map<string, number>();
  const firstHandled = new Map<string, HandledRecord>();
  for (const record of run.handled) {
    const pair = `${record.id} ${record.group}`;
    handledCount.set(pair, (handledCount.get(pair) ?? 0) + 1);
    const first = firstHandled.get(pair);
    if (!first || record.at < first.at) firstHandled.set(pair, record);
  }

  const lost: SoakVerdict['lost'] = {};
  const duplicates: SoakVerdict['duplicates'] = {};
  const deadLetters: SoakVerdict['deadLetters']['byGroup'] = {};
  for (const group of SOAK_GROUPS) {
    const letters = run.deadLetters[group] ?? [];
    const letterCount = new Map<string, number>();
    for (const letter of letters) letterCount.set(letter.event.id, (letterCount.get(letter.event.id) ?? 0) + 1);
    const lostIds = acknowledged.filter((id) => !handledCount.has(`${id} ${group}`) && !letterCount.has(id));
    lost[group] = { count: lostIds.length, examples: lostIds.slice(0, EXAMPLES) };
    const repeated = acknowledged.map((id) => handledCount.get(`${id} ${group}`) ?? 0).filter((count) => count > 1);
    duplicates[group] = { pairs: repeated.length, extraHandlings: repeated.reduce((sum, count) => sum + count - 1, 0) };
    const expected = acknowledged.filter((id) => planned.get(id)?.alwaysFailGroup === group);
    const missing = expected.filter((id) => !letterCount.has(id));
    const unexpected = [...letterCount.keys()].filter((id) => planned.get(id)?.alwaysFailGroup !== group || !run.acknowledged.has(id));
    deadLetters[group] = {
      expected: expected.length,
      found: letterCount.size,
      missing: missing.length,
      unexpected: unexpected.length,
      duplicated: [...letterCount.values()].filter((count) => count > 1).length,
      examples: [...missing, ...unexpected].slice(0, EXAMPLES),
    };
  }

  const wrongStatuses = new Map<string, number>();
  const stuckExamples: string[] = [];
  for (const id of acknowledged) {
    const wanted = planned.get(id)?.alwaysFailGroup ? 'failed' : 'completed';
    const actual = run.finalEvents.get(id)?.status ?? 'unknown';
    if (actual === wanted) continue;
    const kind = `${actual} instead of ${wanted}`;
    wrongStatuses.set(kind, (wrongStatuses.get(kind) ?? 0) + 1);
    if (stuckExamples.length < EXAMPLES) stuckExamples.push(id);
  }
  const stuck = [...wrongStatuses.values()].reduce((sum, count) => sum + count, 0);

  // A pair first handled on a later attempt than its planned failures allow was redelivered after a crash.
  const redeliveredAfterCrash = [...firstHandled.values()].filter(
    (record) => record.attempt > (planned.get(record.id)?.transientFailures[record.group] ?? 0) + 1,
  ).length;
  const latencies = [...firstHandled.values()].map((record) => record.at - record.createdAt).toSorted((a, b) => a - b);
  const lostTotal = Object.values(lost).reduce((sum, group) => sum + group.count, 0);
  const deadLettersAsExpected = Object.values(deadLetters).every((group) => group.missing === 0 && group.unexpected === 0);
  const notAcknowledged = run.plan.length - acknowledged.length;

  const failures: string[] = [];
  if (lostTotal > 0) failures.push(`${lostTotal} (event, group) pairs lost`);
  if (stuck > 0) failures.push(`${stuck} events with a final status not as expected`);
  if (run.unexpectedExits.length > 0) failures.push(`${run.unexpectedExits.length} processes exited on their own`);
  if (!deadLettersAsExpected) failures.push('dead letters not as expected');
  if (notAcknowledged > 0) failures.push(`${notAcknowledged} planned events never acknowledged to the producer`);

  return {
    passed: failures.length === 0,
    failures,
    transport: run.transport,
    runId: run.runId,
    seconds: run.seconds,
    events: {
      planned: run.plan.length,
      acknowledged: acknowledged.length,
      unacknowledgedAtProducerKill: run.unacknowledgedAtProducerKill,
      alwaysFailing: acknowledged.filter((id) => planned.get(id)?.alwaysFailGroup).length,
    },
    kills: { workers: run.workersKilled, producers: run.producersKilled },
    lost,
    duplicates,
    redeliveredAfterCrash,
    stuck: { count: stuck, byStatus: Object.fromEntries(wrongStatuses), examples: stuckExamples },
    deadLetters: { asExpected: deadLettersAsExpected, byGroup: deadLetters },
    latencyMs: {
      pairs: latencies.length,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      max: latencies.at(-1) ?? null,
    },
    unexpectedExits: [...run.unexpectedExits],
    brokerWarningsAndErrors: countWarningsAndErrors(run.logLines),
    drain: run.drain,
  };
}
