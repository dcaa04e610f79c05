import { readFileSync } from 'node:fs';
import type { SoakTransportName } from './soak-options.js';

/** What every process of a run reads from `config.json` in the run's folder. */
export interface SoakRunConfig {
  runId: string;
  transport: SoakTransportName;
  redisUrl: string;
  natsUrl: string;
  databaseUrl: string;
  /** The run's own Redis key prefix, NATS stream or PostgreSQL schema. */
  namespace: string;
  /** The run's folder, absolute. */
  dir: string;
  /** The producer's pace; a replacement producer catches up with the schedule. */
  eventsPerSecond: number;
  /** Epoch ms at which the producer's schedule starts. */
  scheduleStart: number;
}

/** The config of the run whose folder is given as `--run <dir>`. */
export function readRunConfig(argv: readonly string[]): { config: SoakRunConfig; name: string } {
  const [dir, name] = argv;
  if (!dir || !name) throw new Error('Usage: node <process>.js <run folder> <process name>');
  return { config: JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) as SoakRunConfig, name };
}
