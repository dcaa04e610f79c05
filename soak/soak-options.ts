import { parseArgs } from 'node:util';

export const SOAK_TRANSPORTS = ['redis', 'nats', 'postgres'] as const;
export type SoakTransportName = (typeof SOAK_TRANSPORTS)[number];

/** What `npm run soak -- …` was asked to do. */
export interface SoakOptions {
  transport: SoakTransportName;
  /** Events the producer publishes over the run. */
  events: number;
  /** How long workers are killed and replaced. */
  seconds: number;
  /** How long the soak waits, once the kills stop, for every event to settle. */
  drainSeconds: number;
  redisUrl: string;
  natsUrl: string;
  databaseUrl: string;
  /** Where each run writes its folder (verdict, logs, records). */
  outDir: string;
  /** Leave the run's stream, keys or schema on the server instead of deleting them. */
  keep: boolean;
}

export const SOAK_USAGE = `Usage: npm run soak -- --transport=redis|nats|postgres [options]
  --events N           events to publish (default 3000)
  --seconds S          seconds of worker kills (default 60)
  --drain-seconds D    longest wait for every event to settle once the kills stop (default 180)
  --redis-url URL      default $REDIS_URL or redis://127.0.0.1:6379
  --nats-url URL       default $NATS_URL or nats://127.0.0.1:4222
  --database-url URL   default $DATABASE_URL or postgres://postgres@127.0.0.1:5432/test
  --out DIR            where the run's folder is written (default soak/results)
  --keep               keep the run's stream, keys or schema on the server`;

/** A command line the soak cannot run: the message names the flag. */
export class SoakUsageError extends Error {}

function positiveInteger(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new SoakUsageError(`--${flag} must be a positive integer, got "${text}"`);
  return value;
}

const FLAGS = {
  transport: { type: 'string' },
  events: { type: 'string' },
  seconds: { type: 'string' },
  'drain-seconds': { type: 'string' },
  'redis-url': { type: 'string' },
  'nats-url': { type: 'string' },
  'database-url': { type: 'string' },
  out: { type: 'string' },
  keep: { type: 'boolean' },
} as const;

function parseFlags(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new SoakUsageError(error instanceof Error ? error.message : String(error));
  }
}

export function parseSoakOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SoakOptions {
  const values = parseFlags(argv);
  const transport = values.transport;
  if (!SOAK_TRANSPORTS.includes(transport as SoakTransportName)) {
    throw new SoakUsageError(
      `--transport must be one of ${SOAK_TRANSPORTS.join(', ')}, got ${transport === undefined ? 'nothing' : `"${transport}"`}`,
    );
  }
  return {
    transport: transport as SoakTransportName,
    events: positiveInteger('events', values.events, 3000),
    seconds: positiveInteger('seconds', values.seconds, 60),
    drainSeconds: positiveInteger('drain-seconds', values['drain-seconds'], 180),
    redisUrl: values['redis-url'] ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    natsUrl: values['nats-url'] ?? env.NATS_URL ?? 'nats://127.0.0.1:4222',
    databaseUrl: values['database-url'] ?? env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    outDir: values.out ?? 'soak/results',
    keep: values.keep ?? false,
  };
}
