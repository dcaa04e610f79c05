// npm run bench [-- --quick] [-- --only=memory,redis] [-- --profile=redis]: throughput, latency and memory of each
// transport, next to what a user would otherwise use, run in the same process; prints a table of
// ratios and server operations per event and writes bench/results/latest.json. --profile runs only
// the first row whose name holds the given text, under the CPU profiler.
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventEmitter2, EventEmitterModule, OnEvent as OnEmitterEvent } from '@nestjs/event-emitter';
import { Transport } from '@nestjs/microservices';
import { Redis } from 'ioredis';
import { AckPolicy, connect as connectNats, DeliverPolicy, type JetStreamManager } from 'nats';
import pg from 'pg';
import {
  EventBroker,
  EventBrokerModule,
  EventPublisher,
  MemoryTransport,
  OnEvent,
  createEvent,
  type BrokerEvent,
  type EventTransport,
} from 'nestjs-event-broker';
import { NatsTransport } from 'nestjs-event-broker/nats';
import { PostgresTransport } from 'nestjs-event-broker/postgres';
import { RedisTransport } from 'nestjs-event-broker/redis';
import { TestNatsCluster } from '../test/support/nats-cluster.js';
import { TestRedisCluster } from '../test/support/redis-cluster.js';
import { profiled } from './cpu-profile.js';
import { latency, payload, throughput, until, type Measurement } from './measure.js';
import { countNats, countPostgres, countRedis, formatOperations, OPERATIONS_LEGEND } from './operations.js';
import { deleteRedisKeys } from './redis-keys.js';
import { AT_MOST_ONCE_NOTE, microservicesEmit, oursInNestApp, type PeerRun } from './microservices-peers.js';

const quick = process.argv.includes('--quick');
const COUNT = quick ? 2000 : 20_000;
const LATENCY_COUNT = quick ? 500 : 5000;
const BACKLOG = quick ? 50_000 : 1_000_000;
const WINDOW = 100;
const SIZES = [100, 1024];
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const quiet = { log() {}, warn() {}, error() {} };
const peerRun: PeerRun = { count: COUNT, window: WINDOW };
const RESULTS = 'bench/results';

function option(name: string): string | undefined {
  return process.argv.find((argument) => argument.startsWith(`--${name}=`))?.slice(name.length + 3);
}
const profileTarget = option('profile')?.toLowerCase();
let profiledRow: string | undefined;

/** Whether the row runs: every row does, but under --profile only the first whose name holds its text. */
function runs(name: string, profilable = true): boolean {
  if (profileTarget === undefined) return true;
  if (profiledRow === undefined && profilable && name.toLowerCase().includes(profileTarget)) profiledRow = name;
  return profiledRow === name;
}

/** One side of a row, under the CPU profiler when it is the row --profile chose. */
async function side<T>(row: string, which: 'ours' | 'theirs', run: () => Promise<T>): Promise<T> {
  if (row !== profiledRow) return run();
  const slug = row.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '');
  mkdirSync(RESULTS, { recursive: true });
  console.log(`${row}, ${which}:`);
  return profiled(`${RESULTS}/${slug}.${which}.cpuprofile`, run);
}

interface Row {
  name: string;
  ours: string;
  theirs: string;
  ratio: string;
  target: string;
  ops: string;
}
const rows: Row[] = [];
const results: Record<string, unknown> = { quick, count: COUNT, node: process.version, at: new Date().toISOString() };

/** `target`: the least ratio that meets it, or a note put in the column as it is when no target applies. */
function record(name: string, ours: Measurement, theirs: Measurement | undefined, target: number | string | undefined): void {
  const ratio = theirs ? ours.eventsPerSecond / theirs.eventsPerSecond : undefined;
  rows.push({
    name,
    ours: ours.p99Ms === undefined ? `${ours.eventsPerSecond}/s` : `p50 ${ours.p50Ms?.toFixed(2)} ms, p99 ${ours.p99Ms.toFixed(2)} ms`,
    theirs: theirs ? `${theirs.eventsPerSecond}/s` : '',
    ratio: ratio === undefined ? '' : `${ratio.toFixed(2)}x`,
    target:
      ours.p99Ms !== undefined
        ? `${ours.p99Ms < 5 ? 'met' : 'MISSED'} (p99 < 5 ms)`
        : typeof target === 'string'
          ? target
          : target === undefined || ratio === undefined
            ? ''
            : `${ratio >= target ? 'met' : 'MISSED'} (>= ${target}x)`,
    ops: ours.operations || theirs?.operations ? `${formatOperations(ours.operations)} | ${formatOperations(theirs?.operations)}` : '',
  });
  results[name] = { ours, theirs, ratio };
}

function notMeasured(name: string, error: unknown): void {
  rows.push({
    name: `${name}: not measured`,
    ours: error instanceof Error ? error.message : String(error),
    theirs: '',
    ratio: '',
    target: '',
    ops: '',
  });
}

/** A row against @nestjs/microservices; its failure (a dropped message, say) is reported in the row, not by the section. */
async function microservicesRow(name: string, ours: () => Promise<Measurement>, theirs: () => Promise<Measurement>): Promise<void> {
  if (!runs(name)) return;
  try {
    record(name, await side(name, 'ours', ours), await side(name, 'theirs', theirs), AT_MOST_ONCE_NOTE);
  } catch (error) {
    notMeasured(name, error);
  }
}

/** How a row's group consumes, and how many distinct keys its events have (none: each its id). */
interface GroupShape {
  ordered?: boolean;
  keys?: number;
}

/** Our broker on `transport`, one handler in one group, outside Nest (the transports' own cost). */
async function oursOn(transport: EventTransport, size: number, { ordered = false, keys }: GroupShape = {}): Promise<Measurement> {
  const broker = new EventBroker({ transport, logger: quiet });
  let handled = 0;
  await broker.subscribe('bench.events.*', () => void handled++, { group: `bench-${randomUUID().slice(0, 8)}`, ordered });
  await broker.start();
  const keyOf = (n: number): string | undefined => (keys === undefined ? undefined : `key-${n % keys}`);
  try {
    return await throughput(
      COUNT,
      WINDOW,
      (n) => broker.publish(createEvent({ type: 'bench.events.create', key: keyOf(n), payload: payload(size, n) })),
      () => handled,
    );
  } finally {
    await broker.stop();
  }
}

async function oursLatency(transport: EventTransport): Promise<Measurement> {
  const broker = new EventBroker({ transport, logger: quiet });
  const latencies: number[] = [];
  await broker.subscribe(
    'bench.events.*',
    (event: BrokerEvent) => void latencies.push(performance.now() - (event.payload as { sentAt: number }).sentAt),
    {
      group: `latency-${randomUUID().slice(0, 8)}`,
    },
  );
  await broker.start();
  try {
    return await latency(
      LATENCY_COUNT,
      1000,
      (n) => broker.publish(createEvent({ type: 'bench.events.create', payload: payload(100, n) })),
      latencies,
    );
  } finally {
    await broker.stop();
  }
}

// ---- memory vs @nestjs/event-emitter, both in a Nest app ----
let nestHandled = 0;

@Injectable()
class BrokerHandler {
  @OnEvent('bench.events.*')
  async handle(): Promise<void> {
    nestHandled++;
  }
}

@Injectable()
class EmitterHandler {
  @OnEmitterEvent('bench.events.*', { async: true })
  async handle(): Promise<void> {
    nestHandled++;
  }
}

@Module({ imports: [EventBrokerModule.forRoot({ memory: { maxQueued: 10_000 } })], providers: [BrokerHandler] })
class BrokerApp {}

@Module({ imports: [EventEmitterModule.forRoot({ wildcard: true })], providers: [EmitterHandler] })
class EmitterApp {}

async function nestApp(module: object): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(module, { logger: false });
  await app.init();
  return app;
}

async function memoryRows(): Promise<void> {
  for (const size of SIZES) {
    const name = `memory ${size} B vs @nestjs/event-emitter`;
    if (!runs(name)) continue;
    const ours = await nestApp(BrokerApp);
    nestHandled = 0;
    const publisher = ours.get(EventPublisher);
    const oursResult = await side(name, 'ours', () =>
      throughput(
        COUNT,
        WINDOW,
        (n) => publisher.publish('bench.events.create', payload(size, n)),
        () => nestHandled,
      ),
    );
    await ours.close();
    const theirs = await nestApp(EmitterApp);
    nestHandled = 0;
    const emitter = theirs.get(EventEmitter2);
    const theirsResult = await side(name, 'theirs', () =>
      throughput(
        COUNT,
        WINDOW,
        async (n) => void emitter.emit('bench.events.create', payload(size, n)),
        () => nestHandled,
      ),
    );
    await theirs.close();
    record(name, oursResult, theirsResult, 1.0);
  }
}

// ---- Redis vs a raw ioredis XADD + XREADGROUP + XACK loop ----
async function rawRedis(size: number): Promise<Measurement> {
  const stream = `bench-raw-${randomUUID().slice(0, 8)}`;
  const producer = new Redis(REDIS_URL);
  const reader = new Redis(REDIS_URL);
  await producer.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
  let handled = 0;
  let running = true;
  const consuming = (async () => {
    while (running) {
      const result = (await reader.xreadgroup('GROUP', 'g', 'c', 'COUNT', 100, 'BLOCK', 100, 'STREAMS', stream, '>')) as
        [string, [string, string[]][]][] | null;
      const entries = result?.[0]?.[1] ?? [];
      for (const [, fields] of entries) JSON.parse(fields[1]);
      if (entries.length > 0) await producer.xack(stream, 'g', ...entries.map(([id]) => id));
      handled += entries.length;
    }
  })();
  const measured = await throughput(
    COUNT,
    WINDOW,
    (n) => producer.xadd(stream, '*', 'event', JSON.stringify(payload(size, n))),
    () => handled,
  );
  running = false;
  await consuming;
  await producer.del(stream);
  producer.disconnect();
  reader.disconnect();
  return measured;
}

async function redisRows(): Promise<void> {
  for (const size of SIZES) {
    const name = `redis ${size} B vs raw ioredis loop`;
    if (!runs(name)) continue;
    const keyPrefix = `bench-${randomUUID().slice(0, 8)}`;
    const ours = await side(name, 'ours', () =>
      countRedis(REDIS_URL, COUNT, () => oursOn(new RedisTransport({ url: REDIS_URL, keyPrefix, blockMs: 100 }), size)),
    );
    const theirs = await side(name, 'theirs', () => countRedis(REDIS_URL, COUNT, () => rawRedis(size)));
    record(name, ours, theirs, 0.9);
    await deleteRedisKeys(REDIS_URL, keyPrefix);
  }
  const latencyRow = 'redis latency at 1000/s';
  if (runs(latencyRow)) {
    const keyPrefix = `bench-${randomUUID().slice(0, 8)}`;
    record(
      latencyRow,
      await side(latencyRow, 'ours', () => oursLatency(new RedisTransport({ url: REDIS_URL, keyPrefix, blockMs: 100 }))),
      undefined,
      undefined,
    );
    await deleteRedisKeys(REDIS_URL, keyPrefix);
  }
  const { hostname, port } = new URL(REDIS_URL);
  for (const size of SIZES) {
    const peerPrefix = `bench-${randomUUID().slice(0, 8)}`;
    await microservicesRow(
      `redis ${size} B in a Nest app vs @nestjs/microservices emit`,
      () => oursInNestApp(peerRun, new RedisTransport({ url: REDIS_URL, keyPrefix: peerPrefix, blockMs: 100 }), size),
      () => microservicesEmit(peerRun, { transport: Transport.REDIS, options: { host: hostname, port: Number(port || 6379) } }, size),
    );
    await deleteRedisKeys(REDIS_URL, peerPrefix);
  }
}

// ---- NATS vs a raw JetStream publish + pull-consume loop ----
/** On a connection of its own, closed when done: its counts are the loop's. */
async function rawNats(size: number): Promise<Measurement> {
  const connection = await connectNats({ servers: NATS_URL });
  const name = `BENCHRAW_${randomUUID().slice(0, 8)}`;
  const jsm = await connection.jetstreamManager();
  await jsm.streams.add({ name, subjects: [`${name}.>`] });
  await jsm.consumers.add(name, { durable_name: 'g', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New });
  const js = connection.jetstream();
  const consumer = await js.consumers.get(name, 'g');
  let handled = 0;
  const messages = await consumer.consume({ max_messages: 1000 });
  const consuming = (async () => {
    for await (const message of messages) {
      message.json();
      message.ack();
      handled++;
    }
  })();
  const measured = await throughput(
    COUNT,
    WINDOW,
    (n) => js.publish(`${name}.events`, JSON.stringify(payload(size, n))),
    () => handled,
  );
  messages.stop();
  await consuming;
  await jsm.streams.delete(name);
  await connection.flush();
  const counted = countNats(connection, COUNT, measured);
  await connection.close();
  return counted;
}

/** Our broker on a connection of its own, which the transport leaves open: its counts are ours. */
async function oursOnNats(stream: string, size: number): Promise<Measurement> {
  const connection = await connectNats({ servers: NATS_URL });
  const measured = await oursOn(new NatsTransport({ connection, stream, subjectPrefix: stream.toLowerCase(), fetchExpiresMs: 1000 }), size);
  await connection.flush();
  const counted = countNats(connection, COUNT, measured);
  await connection.close();
  return counted;
}

async function natsRows(): Promise<void> {
  const connection = await connectNats({ servers: NATS_URL });
  const jsm = await connection.jetstreamManager();
  for (const size of SIZES) {
    const name = `nats ${size} B vs raw JetStream loop`;
    if (!runs(name)) continue;
    const stream = `BENCH_${randomUUID().slice(0, 8)}`;
    const ours = await side(name, 'ours', () => oursOnNats(stream, size));
    record(name, ours, await side(name, 'theirs', () => rawNats(size)), 0.9);
    await deleteNatsStreams(jsm, stream);
  }
  const latencyRow = 'nats latency at 1000/s';
  if (runs(latencyRow)) {
    const stream = `BENCH_${randomUUID().slice(0, 8)}`;
    record(
      latencyRow,
      await side(latencyRow, 'ours', () =>
        oursLatency(new NatsTransport({ servers: NATS_URL, stream, subjectPrefix: stream.toLowerCase(), fetchExpiresMs: 1000 })),
      ),
      undefined,
      undefined,
    );
    await deleteNatsStreams(jsm, stream);
  }
  for (const size of SIZES) {
    const peerStream = `BENCH_${randomUUID().slice(0, 8)}`;
    await microservicesRow(
      `nats ${size} B in a Nest app vs @nestjs/microservices emit`,
      () =>
        oursInNestApp(
          peerRun,
          new NatsTransport({ servers: NATS_URL, stream: peerStream, subjectPrefix: peerStream.toLowerCase(), fetchExpiresMs: 1000 }),
          size,
        ),
      () => microservicesEmit(peerRun, { transport: Transport.NATS, options: { servers: NATS_URL } }, size),
    );
    await deleteNatsStreams(jsm, peerStream);
  }
  await connection.close();
}

async function deleteNatsStreams(jsm: JetStreamManager, stream: string): Promise<void> {
  for (const name of [stream, `${stream}_DLQ`, `${stream}_PROGRESS`, `KV_${stream}_HISTORY`, `KV_${stream}_GROUPS`])
    await jsm.streams.delete(name).catch(() => false);
}

// ---- PostgreSQL vs a raw pg insert + SKIP LOCKED loop ----
/** In `schema`, on a pool of its own named after it and ended when done, so that its counts can be read. */
async function rawPostgres(schema: string, size: number): Promise<Measurement> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, application_name: schema });
  const table = `"${schema}".events`;
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await pool.query(`CREATE TABLE ${table} (seq bigserial PRIMARY KEY, payload jsonb NOT NULL, done boolean NOT NULL DEFAULT false)`);
  let handled = 0;
  let running = true;
  const consuming = (async () => {
    while (running) {
      const { rows } = await pool.query(
        `UPDATE ${table} SET done = true WHERE seq IN (SELECT seq FROM ${table} WHERE NOT done ORDER BY seq LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING payload`,
      );
      handled += rows.length;
      if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const measured = await throughput(
    COUNT,
    WINDOW,
    (n) => pool.query(`INSERT INTO ${table} (payload) VALUES ($1)`, [JSON.stringify(payload(size, n))]),
    () => handled,
  );
  running = false;
  await consuming;
  await pool.end();
  return measured;
}

async function postgresRows(): Promise<void> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL });
  for (const size of SIZES) {
    const name = `postgres ${size} B vs raw pg SKIP LOCKED loop`;
    if (!runs(name)) continue;
    const schema = `bench_${randomUUID().slice(0, 8)}`;
    const ours = await side(name, 'ours', () =>
      countPostgres(pool, schema, COUNT, () =>
        oursOn(
          new PostgresTransport({ pool: { connectionString: DATABASE_URL, application_name: schema }, schema, pollIntervalMs: 100 }),
          size,
        ),
      ),
    );
    const rawSchema = `bench_raw_${randomUUID().slice(0, 8)}`;
    const theirs = await side(name, 'theirs', () => countPostgres(pool, rawSchema, COUNT, () => rawPostgres(rawSchema, size)));
    record(name, ours, theirs, 0.8);
    for (const done of [schema, rawSchema]) await pool.query(`DROP SCHEMA "${done}" CASCADE`);
  }
  const latencyRow = 'postgres latency at 1000/s';
  if (runs(latencyRow)) {
    const schema = `bench_${randomUUID().slice(0, 8)}`;
    record(
      latencyRow,
      await side(latencyRow, 'ours', () =>
        oursLatency(new PostgresTransport({ connectionString: DATABASE_URL, schema, pollIntervalMs: 100 })),
      ),
      undefined,
      undefined,
    );
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  }
  await pool.end();
}

// ---- Redis Cluster: partitions over the masters of a cluster of the bench's own ----
const PARTITION_COUNTS = [1, 3, 6];

async function redisClusterRows(): Promise<void> {
  const names = PARTITION_COUNTS.map((partitions) => `redis cluster (3 masters), ${partitions} partition${partitions === 1 ? '' : 's'}`);
  if (!names.some((name) => runs(name))) return;
  const cluster = await TestRedisCluster.start({ masters: 3 });
  try {
    let onePartition: Measurement | undefined;
    for (const [index, partitions] of PARTITION_COUNTS.entries()) {
      const name = names[index];
      if (!runs(name)) continue;
      // One partition on a cluster keeps every key in one slot: its prefix carries the hash tag.
      const id = randomUUID().slice(0, 8);
      const keyPrefix = partitions === 1 ? `{bench-${id}}` : `bench-${id}`;
      const measured = await side(name, 'ours', () =>
        oursOn(new RedisTransport({ cluster: { nodes: cluster.nodes }, keyPrefix, partitions, blockMs: 100 }), 100),
      );
      record(name, measured, onePartition, onePartition ? 'none (vs 1 partition)' : 'none (the baseline)');
      onePartition ??= measured;
    }
  } finally {
    await cluster.stop();
  }
}

// ---- NATS cluster: partitions, each a stream of three replicas whose leaders the cluster spreads ----
async function natsClusterRows(): Promise<void> {
  const names = PARTITION_COUNTS.map(
    (partitions) => `nats cluster (3 nodes, replicas 3), ${partitions} partition${partitions === 1 ? '' : 's'}`,
  );
  if (!names.some((name) => runs(name))) return;
  const cluster = await TestNatsCluster.start(3);
  try {
    let onePartition: Measurement | undefined;
    for (const [index, partitions] of PARTITION_COUNTS.entries()) {
      const name = names[index];
      if (!runs(name)) continue;
      const stream = `BENCH_${randomUUID().slice(0, 8)}`;
      const measured = await side(name, 'ours', () =>
        oursOn(
          new NatsTransport({
            servers: cluster.urls,
            stream,
            subjectPrefix: stream.toLowerCase(),
            partitions,
            replicas: 3,
            fetchExpiresMs: 1000,
          }),
          100,
        ),
      );
      record(name, measured, onePartition, onePartition ? 'none (vs 1 partition)' : 'none (the baseline)');
      onePartition ??= measured;
    }
  } finally {
    await cluster.stop();
  }
}

// ---- ordered vs unordered groups, on the transports that order ----
const ORDERED_KEYS = 100;

async function orderedRows(): Promise<void> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL });
  const schemas: string[] = [];
  const postgres = (): EventTransport => {
    const schema = `bench_${randomUUID().slice(0, 8)}`;
    schemas.push(schema);
    return new PostgresTransport({ connectionString: DATABASE_URL, schema, pollIntervalMs: 100 });
  };
  const prefixes: string[] = [];
  const redis = (): EventTransport => {
    const keyPrefix = `bench-${randomUUID().slice(0, 8)}`;
    prefixes.push(keyPrefix);
    return new RedisTransport({ url: REDIS_URL, keyPrefix, blockMs: 100 });
  };
  const transports: [string, () => EventTransport][] = [
    ['memory', () => new MemoryTransport({ maxQueued: 10_000 })],
    ['postgres', postgres],
    ['redis', redis],
  ];
  // On Redis, each side also counts the server operations per event.
  const counted = (label: string, run: () => Promise<Measurement>): Promise<Measurement> =>
    label === 'redis' ? countRedis(REDIS_URL, COUNT, run) : run();
  try {
    for (const [label, transport] of transports) {
      const name = `${label}: ordered group (${ORDERED_KEYS} keys) vs unordered`;
      if (!runs(name)) continue;
      const ordered = await side(name, 'ours', () => counted(label, () => oursOn(transport(), 100, { ordered: true, keys: ORDERED_KEYS })));
      const unordered = await side(name, 'theirs', () => counted(label, () => oursOn(transport(), 100, { keys: ORDERED_KEYS })));
      record(name, ordered, unordered, 'none (what the order costs)');
    }
  } finally {
    for (const schema of schemas) await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
    for (const keyPrefix of prefixes) await deleteRedisKeys(REDIS_URL, keyPrefix);
  }
}

// ---- memory: a backlog behind a slow handler; bootstrap of 1 000 handlers ----
async function backlogRss(): Promise<void> {
  const name = `peak RSS, ${BACKLOG} events backlogged on Redis behind a slow handler`;
  if (!runs(name, false)) return;
  const output = execFileSync(process.execPath, [fileURLToPath(new URL('./backlog-rss.js', import.meta.url)), String(BACKLOG)], {
    encoding: 'utf8',
  });
  const { peakRssMb, handledMeanwhile } = JSON.parse(output) as { peakRssMb: number; handledMeanwhile: number };
  rows.push({
    name,
    ours: `${peakRssMb} MB`,
    theirs: '',
    ratio: '',
    target: `${peakRssMb < 150 ? 'met' : 'MISSED'} (< 150 MB)`,
    ops: '',
  });
  results.backlogPeakRssMb = peakRssMb;
  results.backlogHandledMeanwhile = handledMeanwhile;
}

/** Peak RSS while 100 000 events go through the memory transport, async mode, to one handler. */
async function memoryRss(): Promise<void> {
  const name = 'peak RSS, 100 000 events through memory to one handler';
  if (!runs(name, false)) return;
  const output = execFileSync(process.execPath, [fileURLToPath(new URL('./memory-rss.js', import.meta.url))], { encoding: 'utf8' });
  const mb = (JSON.parse(output) as { peakRssMb: number }).peakRssMb;
  rows.push({
    name,
    ours: `${mb} MB`,
    theirs: '',
    ratio: '',
    target: `${mb < 200 ? 'met' : 'MISSED'} (< 200 MB)`,
    ops: '',
  });
  results.memoryPeakRssMb = mb;
}

async function bootstrap1000(): Promise<void> {
  const name = 'bootstrap with 1 000 @OnEvent handlers (create + init)';
  if (!runs(name)) return;
  const providers = Array.from({ length: 1000 }, (_, index) => {
    class Handler {
      handle(): void {}
    }
    Object.defineProperty(Handler, 'name', { value: `Handler${index}` });
    Injectable()(Handler);
    const descriptor = Object.getOwnPropertyDescriptor(Handler.prototype, 'handle') as PropertyDescriptor;
    OnEvent(`bench.handler${index}.*`)(Handler.prototype, 'handle', descriptor);
    return Handler;
  });
  @Module({ imports: [EventBrokerModule.forRoot({ transport: new MemoryTransport() })], providers })
  class ThousandHandlers {}
  const ms = await side(name, 'ours', async () => {
    const started = performance.now();
    const app = await NestFactory.createApplicationContext(ThousandHandlers, { logger: false });
    await app.init();
    const elapsed = Math.round(performance.now() - started);
    await app.close();
    return elapsed;
  });
  rows.push({
    name,
    ours: `${ms} ms`,
    theirs: '',
    ratio: '',
    target: `${ms < 200 ? 'met' : 'MISSED'} (< 200 ms)`,
    ops: '',
  });
  results.bootstrap1000Ms = ms;
}

function print(): void {
  const headers: Row = {
    name: 'measure',
    ours: 'ours',
    theirs: 'theirs',
    ratio: 'ours/theirs',
    target: 'target',
    ops: 'ops/event ours | theirs',
  };
  const all = [headers, ...rows];
  const widths = (Object.keys(headers) as (keyof Row)[]).map((key) => Math.max(...all.map((row) => row[key].length)));
  for (const row of all)
    console.log((Object.keys(headers) as (keyof Row)[]).map((key, index) => row[key].padEnd(widths[index])).join(' | '));
  const counted = new Set(rows.filter((row) => row.ops !== '').map((row) => row.name.split(/[ :]/)[0]));
  if (counted.size > 0) console.log('ops/event, per side, its setup and shutdown included:');
  for (const transport of counted) console.log(`  ${OPERATIONS_LEGEND[transport]}`);
}

const sections: [string, () => Promise<void>][] = [
  ['memory-rss', memoryRss],
  ['memory', memoryRows],
  ['redis', redisRows],
  ['nats', natsRows],
  ['postgres', postgresRows],
  ['cluster', redisClusterRows],
  ['nats-cluster', natsClusterRows],
  ['ordered', orderedRows],
  ['backlog', backlogRss],
  ['bootstrap', bootstrap1000],
];
const only = option('only');
for (const [name, run] of sections) {
  if (only && !only.split(',').includes(name)) continue;
  try {
    await run();
  } catch (error) {
    notMeasured(name, error);
  }
}
if (profileTarget !== undefined && profiledRow === undefined)
  console.log(`no row to profile: no measured row's name holds "${profileTarget}"`);
print();
// A profiled run measures one row under the profiler: it leaves the last full results as they are.
if (profileTarget === undefined) {
  results.rows = rows;
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(`${RESULTS}/latest.json`, JSON.stringify(results, null, 2));
  console.log(`JSON: ${RESULTS}/latest.json`);
}
await until(() => true, 'nothing');
process.exit(0);
