import type { UnexpectedExit } from './soak-process.js';

export interface SoakDrainResult {
  /** Every group idle and every event completed or failed before the drain timeout. */
  settled: boolean;
  seconds: number;
}

/** The JSON verdict a soak run prints and writes to `verdict.json`. */
export interface SoakVerdict {
  /** lost = 0, stuck = 0, no unexpected exit, dead letters as expected, every planned event acknowledged. */
  passed: boolean;
  /** Why it did not pass. */
  failures: string[];
  transport: string;
  runId: string;
  /** Seconds of worker kills. */
  seconds: number;
  events: {
    planned: number;
    /** Events whose publish resolved. */
    acknowledged: number;
    /** Publishes in flight when the producer was killed, republished with the same ids by its replacement. */
    unacknowledgedAtProducerKill: number;
    /** Acknowledged events whose handler always fails in one group. */
    alwaysFailing: number;
  };
  kills: { workers: number; producers: number };
  /** Per group: acknowledged events neither handled successfully nor dead-lettered there. */
  lost: Record<string, { count: number; examples: string[] }>;
  /** Per group: events handled successfully more than once (allowed after crashes), and the extra handlings. */
  duplicates: Record<string, { pairs: number; extraHandlings: number }>;
  /** (event, group) pairs first handled successfully on a later attempt than planned: a kill interrupted an earlier one. */
  redeliveredAfterCrash: number;
  /** Events whose final status is not the expected one (completed, or failed for the always-failing ones). */
  stuck: { count: number; byStatus: Record<string, number>; examples: string[] };
  deadLetters: {
    /** No dead letter missing and none unexpected, in every group. */
    asExpected: boolean;
    byGroup: Record<
      string,
      { expected: number; found: number; missing: number; unexpected: number; duplicated: number; examples: string[] }
    >;
  };
  /** From creation (first publish attempt) to the first successful handling of each (event, group) pair. */
  latencyMs: { pairs: number; p50: number | null; p99: number | null; max: number | null };
  unexpectedExits: UnexpectedExit[];
  /** The brokers' warnings and errors, by level and message prefix. */
  brokerWarningsAndErrors: Record<string, number>;
  drain: SoakDrainResult;
}
