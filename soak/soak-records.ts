import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A publish the producer started: a replacement producer republishes it with the same id and time. */
export interface SentRecord {
  id: string;
  createdAt: number;
}

/** A publish whose promise resolved: the event is acknowledged. */
export interface AckedRecord {
  id: string;
  producer: string;
}

/** A successful handling of an (event, group) pair, written before the handler returns. */
export interface HandledRecord {
  id: string;
  group: string;
  worker: string;
  attempt: number;
  createdAt: number;
  at: number;
}

/** The files of a run's folder. */
export const runFiles = (dir: string) => ({
  config: join(dir, 'config.json'),
  plan: join(dir, 'plan.json'),
  sent: join(dir, 'sent.jsonl'),
  acked: join(dir, 'acked.jsonl'),
  handledDir: join(dir, 'handled'),
  handled: (worker: string) => join(dir, 'handled', `${worker}.jsonl`),
  logsDir: join(dir, 'logs'),
  log: (name: string) => join(dir, 'logs', `${name}.log`),
  stderr: (name: string) => join(dir, 'logs', `${name}.stderr`),
  verdict: join(dir, 'verdict.json'),
});

export function makeRunFolders(dir: string): void {
  const files = runFiles(dir);
  for (const folder of [files.handledDir, files.logsDir]) mkdirSync(folder, { recursive: true });
}

/**
 * One JSON line, written synchronously: once this returns, the line survives a SIGKILL of the
 * process (it is in the kernel's page cache).
 */
export function appendRecord(path: string, record: object): void {
  appendFileSync(path, `${JSON.stringify(record)}\n`);
}

/** The records of a JSON-lines file; a line cut short by a kill is skipped. */
export function readRecords<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const records: T[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      // The last line of a process killed while writing it.
    }
  }
  return records;
}

/** The records of every file of `folder`. */
export function readFolderRecords<T>(folder: string): T[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder).flatMap((file) => readRecords<T>(join(folder, file)));
}
