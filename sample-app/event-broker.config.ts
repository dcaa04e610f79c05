import { ConfigService } from '@nestjs/config';
import type { EventBrokerModuleOptions, PublishMode, TransportName } from 'nestjs-event-broker';

const TRANSPORTS: readonly TransportName[] = ['memory', 'redis', 'nats', 'postgres'];

function positive(config: ConfigService, name: string): number | undefined {
  const raw = config.get<string>(name);
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

/**
 * The broker options of the sample app, from the environment: EVENT_BROKER_TRANSPORT
 * (memory | redis | nats | postgres), REDIS_URL, REDIS_KEY_PREFIX, NATS_URL, NATS_STREAM,
 * NATS_SUBJECT_PREFIX, DATABASE_URL, POSTGRES_SCHEMA, EVENT_BROKER_MODE (async | sync), EVENT_BROKER_WORKERS,
 * EVENT_BROKER_BUFFER_SIZE, EVENT_BROKER_INSTANCE_ID. Nothing set runs on memory, no server needed.
 */
export function eventBrokerConfig(config: ConfigService): EventBrokerModuleOptions {
  const transport = config.get<string>('EVENT_BROKER_TRANSPORT', 'memory') as TransportName;
  if (!TRANSPORTS.includes(transport))
    throw new Error(`EVENT_BROKER_TRANSPORT must be one of ${TRANSPORTS.join(', ')}, got "${transport}"`);
  const mode = config.get<string>('EVENT_BROKER_MODE', 'async') as PublishMode;
  if (mode !== 'async' && mode !== 'sync') throw new Error(`EVENT_BROKER_MODE must be async or sync, got "${mode}"`);
  return {
    transport,
    redis: { url: config.get<string>('REDIS_URL', 'redis://127.0.0.1:6379'), keyPrefix: config.get<string>('REDIS_KEY_PREFIX', 'sample') },
    nats: {
      servers: config.get<string>('NATS_URL', 'nats://127.0.0.1:4222'),
      stream: config.get<string>('NATS_STREAM', 'SAMPLE'),
      subjectPrefix: config.get<string>('NATS_SUBJECT_PREFIX', 'sample'),
    },
    postgres: {
      connectionString: config.get<string>('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test'),
      schema: config.get<string>('POSTGRES_SCHEMA', 'sample'),
    },
    serviceName: 'sample',
    instanceId: config.get<string>('EVENT_BROKER_INSTANCE_ID') || undefined,
    mode,
    workerCount: positive(config, 'EVENT_BROKER_WORKERS'),
    bufferSize: positive(config, 'EVENT_BROKER_BUFFER_SIZE'),
    retry: { maxRetries: 2, initialDelayMs: 500 },
    tracing: true,
    metrics: true,
    asyncapi: { path: '/asyncapi.json', title: 'nestjs-event-broker sample app' },
  };
}
