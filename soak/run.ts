// npm run soak -- --transport=redis|nats|postgres [--events N] [--seconds S]: the crash soak. Runs
// worker processes and a producer against the transport, SIGKILLs a worker every 1-3 s and the
// producer once midway, then drains, stops everything gracefully and writes a JSON verdict (see
// the README, "Crash soak"). Exits 0 only when the verdict passes.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeadLetter } from 'nestjs-event-broker';
import { fileBrokerLogger, type LogLine } from './file-logger.js';
import { KILL_INTERVAL_MS, PUBLISH_SHARE_OF_RUN, SOAK_GROUPS, START_TIMEOUT_MS, STOP_TIMEOUT_MS, WORKER_COUNT } from './soak-constants.js';
import { currentEvents, waitUntilSettled } from './soak-drain.js';
import { parseSoakOptions, SOAK_USAGE, SoakUsageError, type SoakOptions } from './soak-options.js';
import { planEvents } from './soak-plan.js';
import { SoakProcess } from './soak-process.js';
import {
  makeRunFolders,
  readFolderRecords,
  readRecords,
  runFiles,
  type AckedRecord,
  type HandledRecord,
  type SentRecord,
} from './soak-records.js';
import type { SoakRunConfig } from './soak-run-config.js';
import { createSoakTransport, deleteSoakData } from './soak-transport.js';
import { soakVerdict } from './soak-verdict.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER_SCRIPT = join(here, 'worker.js');
const PRODUCER_SCRIPT = join(here, 'producer.js');
const PROGRESS_EVERY_MS = 10_000;
/** How long the producer kill waits for a moment when publishes are in flight. */
const PRODUCER_KILL_SEARCH_MS = 5000;

const sleep = (ms: number): Promise<void> => new Promise((wake) => setTimeout(wake, Math.max(0, ms)));
const between = (min: number, max: number): number => min + Math.random() * (max - min);
const say = (line: string): void => console.log(`[soak] ${line}`);

let options: SoakOptions;
try {
  options = parseSoakOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof SoakUsageError)) throw error;
  console.error(`${error.message}\n\n${SOAK_USAGE}`);
  process.exit(2);
}

const runId = randomUUID().slice(0, 8);
const dir = resolve(options.outDir, `${options.transport}-${new Date().toISOString().replace(/[:.]/g, '-')}-${runId}`);
const files = runFiles(dir);
makeRunFolders(dir);
const config: SoakRunConfig = {
  runId,
  transport: options.transport,
  redisUrl: options.redisUrl,
  natsUrl: options.natsUrl,
  databaseUrl: options.databaseUrl,
  namespace: `soak_${runId}`,
  dir,
  eventsPerSecond: options.events / (options.seconds * PUBLISH_SHARE_OF_RUN),
  scheduleStart: Date.now(),
};
const writeConfig = (): void => writeFileSync(files.config, JSON.stringify(config, null, 2));
const plan = planEvents(options.events);
writeFileSync(files.plan, JSON.stringify(plan));
writeConfig();

const processes: SoakProcess[] = [];
let workerNumber = 0;
let producerNumber = 0;
const startWorker = (): SoakProcess => {
  const name = `worker-${++workerNumber}`;
  const worker = new SoakProcess(name, WORKER_SCRIPT, dir, files.stderr(name));
  processes.push(worker);
  return worker;
};
const startProducer = (): SoakProcess => {
  const name = `producer-${++producerNumber}`;
  const producer = new SoakProcess(name, PRODUCER_SCRIPT, dir, files.stderr(name), 'done');
  processes.push(producer);
  return producer;
};
/**
 * Kills the producer while some of its publishes are unacknowledged (in flight), the case its
 * replacement must republish: freezes it, looks at its records, and lets it go on for a moment
 * when nothing is in flight. Gives the number of unacknowledged publishes, or `undefined` when the
 * producer finished first.
 */
async function killProducerMidPublish(producer: SoakProcess): Promise<number | undefined> {
  const deadline = Date.now() + PRODUCER_KILL_SEARCH_MS;
  while (producer.running) {
    producer.pause();
    const acked = new Set(readRecords<AckedRecord>(files.acked).map((record) => record.id));
    const unacknowledged = readRecords<SentRecord>(files.sent).filter((record) => !acked.has(record.id)).length;
    if (unacknowledged > 0 || Date.now() >= deadline) {
      producer.kill();
      await producer.exited;
      return unacknowledged;
    }
    producer.resume();
    await sleep(between(1, 10));
  }
  return undefined;
}
const runningWorkers = (): SoakProcess[] => processes.filter((child) => child.running && child.name.startsWith('worker-'));
process.once('SIGINT', () => {
  for (const child of processes) child.kill();
  process.exit(130);
});

// The soak's own connection, for stats, statuses and dead letters; connected first, so that it
// creates what the transport needs on the server before any worker starts.
const observer = createSoakTransport(config);
try {
  await observer.connect({ logger: fileBrokerLogger(files.log('observer')) });
} catch (error) {
  console.error(`[soak] cannot start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
say(`${options.transport}: run ${runId}, ${options.events} events, ${options.seconds} s of kills, folder ${dir}`);

try {
  const firstWorkers = Array.from({ length: WORKER_COUNT }, startWorker);
  await Promise.all(firstWorkers.map((worker) => worker.printed('ready', START_TIMEOUT_MS)));
  config.scheduleStart = Date.now();
  writeConfig();
  let producer = startProducer();

  const killsEnd = Date.now() + options.seconds * 1000;
  let producerKillAt = Date.now() + (options.seconds * 1000) / 2;
  let nextWorkerKill = Date.now() + between(KILL_INTERVAL_MS.min, KILL_INTERVAL_MS.max);
  let workersKilled = 0;
  let producersKilled = 0;
  let unacknowledgedAtProducerKill = 0;
  let nextProgress = Date.now() + PROGRESS_EVERY_MS;
  while (Date.now() < killsEnd) {
    await sleep(Math.min(nextWorkerKill, producerKillAt, killsEnd) - Date.now());
    if (Date.now() >= killsEnd) break;
    if (Date.now() >= producerKillAt) {
      producerKillAt = Number.POSITIVE_INFINITY;
      const unacknowledged = await killProducerMidPublish(producer);
      if (unacknowledged === undefined) {
        say('the producer was done before midway: not killed');
      } else {
        unacknowledgedAtProducerKill = unacknowledged;
        producersKilled++;
        producer = startProducer();
        say(`killed the producer with ${unacknowledged} publishes unacknowledged; ${producer.name} republishes them`);
      }
    }
    if (Date.now() >= nextWorkerKill) {
      nextWorkerKill = Date.now() + between(KILL_INTERVAL_MS.min, KILL_INTERVAL_MS.max);
      const candidates = runningWorkers();
      const victim = candidates[Math.floor(Math.random() * candidates.length)];
      if (victim) {
        victim.kill();
        await victim.exited;
        workersKilled++;
      }
    }
    while (runningWorkers().length < WORKER_COUNT) startWorker();
    if (Date.now() >= nextProgress) {
      nextProgress += PROGRESS_EVERY_MS;
      say(`${workersKilled} workers killed, ${readRecords<AckedRecord>(files.acked).length}/${options.events} events acknowledged`);
    }
  }

  say(`kills over (${workersKilled} workers, ${producersKilled} producer); waiting for the producer, then draining`);
  await producer.printed('done', options.drainSeconds * 1000);
  const acknowledged = new Set(readRecords<AckedRecord>(files.acked).map((record) => record.id));
  const drain = await waitUntilSettled(observer, [...acknowledged], options.drainSeconds * 1000);
  say(drain.settled ? `drained in ${drain.seconds} s` : `not drained after ${drain.seconds} s`);

  await Promise.all(processes.map((child) => child.stop(STOP_TIMEOUT_MS)));
  const unexpectedExits = (await Promise.all(processes.map((child) => child.exited))).flatMap((exit) => exit ?? []);

  const deadLetters: Record<string, DeadLetter[]> = {};
  for (const group of SOAK_GROUPS) deadLetters[group] = await observer.deadLetters({ group, limit: Number.MAX_SAFE_INTEGER });
  const verdict = soakVerdict({
    transport: options.transport,
    runId,
    seconds: options.seconds,
    plan,
    acknowledged,
    unacknowledgedAtProducerKill,
    workersKilled,
    producersKilled,
    handled: readFolderRecords<HandledRecord>(files.handledDir),
    finalEvents: await currentEvents(observer, [...acknowledged]),
    deadLetters,
    logLines: readFolderRecords<LogLine>(files.logsDir),
    unexpectedExits,
    drain,
  });
  writeFileSync(files.verdict, `${JSON.stringify(verdict, null, 2)}\n`);
  console.log(JSON.stringify(verdict, null, 2));
  say(`${verdict.passed ? 'PASSED' : `FAILED: ${verdict.failures.join('; ')}`} (verdict: ${files.verdict})`);
  process.exitCode = verdict.passed ? 0 : 1;
} finally {
  for (const child of processes) child.kill();
  await observer.close();
  if (!options.keep) await deleteSoakData(config);
}
