// A V8 CPU profile of one side of a bench row, written for a viewer (Chrome DevTools, speedscope)
// and summed up as the functions with the most self time, so that a reader sees where time goes
// without one.
import { writeFileSync } from 'node:fs';
import type { Profiler } from 'node:inspector';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

const SAMPLING_INTERVAL_US = 200;
const TOP = 15;

export interface SelfTime {
  where: string;
  ms: number;
  share: number;
}

/** `file:///…/node_modules/pkg/x.js` → `pkg/x.js`; our own files relative to the working directory. */
function shortUrl(url: string): string {
  if (url === '') return '';
  const path = url.startsWith('file:') ? fileURLToPath(url) : url;
  const inModules = path.lastIndexOf('node_modules/');
  if (inModules >= 0) return path.slice(inModules + 'node_modules/'.length);
  return path.startsWith(`${process.cwd()}/`) ? path.slice(process.cwd().length + 1) : path;
}

/** Self time by function, most first: each sample's interval goes to the function on top of the stack. */
export function topSelfTime(profile: Profiler.Profile, limit = TOP): SelfTime[] {
  const whereOf = new Map<number, string>();
  for (const { id, callFrame } of profile.nodes) {
    const url = shortUrl(callFrame.url);
    const name = callFrame.functionName || '(anonymous)';
    whereOf.set(id, url ? `${name} ${url}:${callFrame.lineNumber + 1}` : name);
  }
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const byWhere = new Map<string, number>();
  let total = 0;
  for (let index = 0; index < samples.length; index++) {
    const us = deltas[index + 1] ?? 0;
    const where = whereOf.get(samples[index]) ?? '(unknown)';
    byWhere.set(where, (byWhere.get(where) ?? 0) + us);
    total += us;
  }
  return [...byWhere]
    .toSorted(([, a], [, b]) => b - a)
    .slice(0, limit)
    .map(([where, us]) => ({ where, ms: Math.round(us / 100) / 10, share: total > 0 ? us / total : 0 }));
}

/** Runs `run` under the CPU profiler, writes the profile to `file` and prints its top self times. */
export async function profiled<T>(file: string, run: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await session.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(file, JSON.stringify(profile));
    console.log(`CPU profile: ${file}`);
    console.log(`top ${TOP} functions by self time:`);
    for (const { where, ms, share } of topSelfTime(profile))
      console.log(`  ${(share * 100).toFixed(1).padStart(5)}%  ${String(ms).padStart(8)} ms  ${where}`);
  }
}
