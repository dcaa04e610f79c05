/** Totals or per-event counts of server operations, by what was counted (see operations.ts). */
export type Operations = Record<string, number>;

/** What one run of one side measured. */
export interface Measurement {
  eventsPerSecond: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Server operations per event, on the throughput rows of the wire transports. */
  operations?: Operations;
}

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

/** A payload of about `bytes` bytes of JSON, carrying the time it was sent. */
export function payload(bytes: number, n: number): { n: number; sentAt: number; pad: string } {
  return { n, sentAt: performance.now(), pad: 'x'.repeat(Math.max(0, bytes - 40)) };
}

/** What `until` throws, so that a caller can tell a wait that ran out from a failed publish. */
export class TimedOut extends Error {}

/** Waits until `done()` holds, polling; fails after `timeoutMs`. */
export async function until(done: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new TimedOut(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Publishes `count` events with at most `window` publishes in flight and waits until `handled()`
 * reaches `count`: end-to-end events per second.
 */
export async function throughput(
  count: number,
  window: number,
  publish: (n: number) => Promise<unknown>,
  handled: () => number,
  timeoutMs?: number,
): Promise<Measurement> {
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await publish(next++);
  };
  await Promise.all(Array.from({ length: window }, worker));
  await until(() => handled() >= count, `${count} events handled`, timeoutMs);
  return { eventsPerSecond: Math.round(count / ((performance.now() - started) / 1000)) };
}

/** After a warm-up, publishes at `rate` events per second for `count` events; latency from publish to handler. */
export async function latency(
  count: number,
  rate: number,
  publish: (n: number) => Promise<unknown>,
  latencies: number[],
): Promise<Measurement> {
  // The first events open connections and compile code paths: a steady state is what is measured.
  const warmUp = Math.min(200, Math.ceil(count / 5));
  await paced(warmUp, rate, publish);
  await until(() => latencies.length >= warmUp, `${warmUp} warm-up latencies`);
  latencies.length = 0;
  await paced(count, rate, publish);
  await until(() => latencies.length >= count, `${count} latencies`);
  const sorted = [...latencies].sort((a, b) => a - b);
  return { eventsPerSecond: rate, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
}

/** Calls `publish` `count` times at `rate` per second, without waiting for the calls. */
async function paced(count: number, rate: number, publish: (n: number) => Promise<unknown>): Promise<void> {
  const started = performance.now();
  for (let n = 0; n < count; n++) {
    const due = started + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    void publish(n);
  }
}
