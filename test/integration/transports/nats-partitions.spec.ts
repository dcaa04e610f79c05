import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, createEvent, type NatsTransportOptions } from '../../../lib/index.js';
import { partitionOf } from '../../../lib/core/partition-key.js';
import { NatsTransport } from '../../../lib/nats.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../../support/nats.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { deferred, waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function setup() {
  const names = uniqueStream('partitions');
  cleanups.push(() => deleteStreams(names.stream));
  const makeBroker = (instanceId: string, options: NatsTransportOptions = {}): EventBroker => {
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: NATS_URL, ...names, ackWaitMs: 1000, fetchExpiresMs: 1000, ...options }),
      instanceId,
      logger: new RecordingLogger(),
      retry: { initialDelayMs: 10, maxDelayMs: 50, jitter: 0 },
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
  return { ...names, makeBroker };
}

async function manager(): Promise<JetStreamManager> {
  const connection: NatsConnection = await connect({ servers: NATS_URL });
  cleanups.push(() => connection.close());
  return connection.jetstreamManager();
}

/** The subjects the stream holds, with their counts. */
async function subjectsOf(jsm: JetStreamManager, stream: string): Promise<Record<string, number>> {
  return (await jsm.streams.info(stream, { subjects_filter: '>' })).state.subjects ?? {};
}

async function connectFailure(options: NatsTransportOptions): Promise<Error> {
  const transport = new NatsTransport({ servers: NATS_URL, ...options });
  const failure = await transport.connect({ logger: new RecordingLogger() }).then(
    () => new Error('connected'),
    (error: Error) => error,
  );
  await transport.close();
  return failure;
}

describe('NatsTransport with partitions', () => {
  it("puts each event in its key's partition stream: the same key in one stream, different keys spread over all", async () => {
    const { stream, subjectPrefix, makeBroker } = setup();
    const broker = makeBroker('api', { partitions: 4 });
    await broker.start();
    const keys = Array.from({ length: 16 }, (_, index) => `customer-${index}`);
    for (const key of keys) await broker.publish(createEvent({ type: 'public.users.create', payload: {}, key }));
    for (let index = 0; index < 5; index++)
      await broker.publish(createEvent({ type: 'public.users.update', payload: {}, key: 'customer-7' }));

    const jsm = await manager();
    const streams = await Promise.all([0, 1, 2, 3].map((partition) => subjectsOf(jsm, `${stream}_P${partition}`)));
    const expected = [0, 1, 2, 3].map((partition) => keys.filter((key) => partitionOf(key, 4) === partition).length);
    expect(expected.filter((count) => count > 0).length).toBeGreaterThan(1);
    streams.forEach((subjects, partition) => {
      const creates = subjects[`${subjectPrefix}.p${partition}.internal.public.users.create`] ?? 0;
      expect(creates).toBe(expected[partition]);
    });
    const home = partitionOf('customer-7', 4);
    expect(streams[home][`${subjectPrefix}.p${home}.internal.public.users.update`]).toBe(5);
    expect(streams.flatMap((subjects) => Object.keys(subjects)).filter((subject) => subject.endsWith('.update'))).toHaveLength(1);
    await expect(jsm.streams.info(stream)).rejects.toThrow(/not found/);
  });

  it('dead-letters on <prefix>-dlq.<group>.<partition>.<sequence>, and replays the copy into the event’s own partition stream', async () => {
    const { stream, subjectPrefix, makeBroker } = setup();
    const broker = makeBroker('worker', { partitions: 3 });
    let failing = true;
    const handled: string[] = [];
    await broker.subscribe(
      'public.**',
      (event) => {
        if (failing) throw new Error('down');
        handled.push(event.id);
      },
      { group: 'mailer', retry: { maxRetries: 0 } },
    );
    await broker.start();
    const event = await broker.publish(createEvent({ type: 'public.users.create', payload: {}, key: 'k-1' }));
    const partition = partitionOf('k-1', 3);

    await waitFor(async () => (await broker.transport.get(event.id))?.status === 'failed', 'the event failed');
    const jsm = await manager();
    expect(await subjectsOf(jsm, `${stream}_DLQ`)).toEqual({ [`${subjectPrefix}-dlq.mailer.${partition}.1`]: 1 });
    const [deadLetter] = await broker.transport.deadLetters({ group: 'mailer' });
    failing = false;
    await broker.transport.replay(deadLetter.id);
    await waitFor(() => handled.length === 1, 'the replayed copy handled');
    await waitFor(async () => (await broker.transport.get(event.id))?.status === 'completed', 'the event completed');
    // The copy went through the event's own stream and was deleted there once settled.
    const own = await jsm.streams.info(`${stream}_P${partition}`);
    expect([own.state.last_seq, own.state.messages]).toEqual([2, 1]);
    expect(await broker.transport.deadLetters()).toEqual([]);
  });

  it("hands out a partition's events at once while a busy partition's pull holds the room of the group", async () => {
    const { makeBroker } = setup();
    const broker = makeBroker('worker', { partitions: 2, fetchExpiresMs: 5000, ackWaitMs: 10_000 });
    const keys = Array.from({ length: 20 }, (_, index) => `key-${index}`);
    const busy = keys.find((key) => partitionOf(key, 2) === 0) ?? '';
    const quiet = keys.find((key) => partitionOf(key, 2) === 1) ?? '';
    const release = deferred();
    const started = new Map<string, number>();
    await broker.subscribe<{ slow: boolean }>(
      'public.**',
      async (event) => {
        started.set(event.id, Date.now());
        if (event.payload.slow) await release.promise;
      },
      { group: 'worker', concurrency: 4 },
    );
    await broker.start();
    // An event of the busy partition: its pull came back full, the next one asks for most of the room.
    const first = await broker.publish(createEvent({ type: 'public.users.create', payload: { slow: false }, key: busy }));
    await waitFor(() => started.has(first.id), 'the busy partition handled');

    // Events of the other partition, one after the other, each handled while the ones before still
    // run: the group has room for them all.
    const waits: number[] = [];
    for (let index = 0; index < 3; index++) {
      const published = Date.now();
      const event = await broker.publish(createEvent({ type: 'public.users.create', payload: { slow: true }, key: quiet }));
      await waitFor(() => started.has(event.id), `event ${index} of the quiet partition handled`, 8000);
      waits.push((started.get(event.id) ?? 0) - published);
    }
    release.resolve();
    expect(waits.filter((wait) => wait > 1000)).toEqual([]);
  });

  it('refuses another partition count than the one the stream was written with, saying what to do', async () => {
    const { stream, subjectPrefix, makeBroker } = setup();
    const partitioned = makeBroker('api', { partitions: 4 });
    await partitioned.start();
    await partitioned.publish(createEvent({ type: 'public.users.create', payload: {} }));
    await partitioned.stop();

    for (const partitions of [1, 2]) {
      const failure = await connectFailure({ stream, subjectPrefix, partitions });
      expect(failure).toBeInstanceOf(EventBrokerError);
      expect(failure.message).toContain(
        `stream ${stream} holds events written with partitions 4, and this transport has partitions ${partitions}`,
      );
      expect(failure.message).toContain('set partitions to 4, or use a new stream name');
    }
    const jsm = await manager();
    await expect(jsm.streams.info(stream)).rejects.toThrow(/not found/);
    await expect(jsm.streams.info(`${stream}_P1`)).resolves.toBeDefined();
  });

  it('counts a stream of the layout before partitions as one partition, and refuses more on it', async () => {
    const { stream, subjectPrefix, makeBroker } = setup();
    const jsm = await manager();
    // A stream of an earlier version: events on <prefix>.<source>.<type>, no recorded count.
    await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.>`] });

    const failure = await connectFailure({ stream, subjectPrefix, partitions: 3 });
    expect(failure.message).toContain(`stream ${stream} holds events written with partitions 1, and this transport has partitions 3`);
    await expect(jsm.streams.info(`${stream}_P0`)).rejects.toThrow(/not found/);

    const broker = makeBroker('api');
    await broker.start();
    const event = await broker.publish(createEvent({ type: 'public.users.create', payload: {} }));
    expect(await subjectsOf(jsm, stream)).toEqual({ [`${subjectPrefix}.internal.public.users.create`]: 1 });
    expect((await broker.transport.get(event.id))?.id).toBe(event.id);
  });

  it("refuses subjectLayout 'type' with partitions, and a partition count that is no positive integer", () => {
    expect(() => new NatsTransport({ subjectLayout: 'type', partitions: 2 })).toThrow(
      "NatsTransport option subjectLayout 'type' cannot be used with partitions 2",
    );
    expect(() => new NatsTransport({ subjectLayout: 'type', partitions: 1 })).not.toThrow();
    for (const partitions of [0, -1, 1.5, Number.NaN]) {
      expect(() => new NatsTransport({ partitions })).toThrow(`NatsTransport option partitions must be a positive integer, got`);
    }
    expect(() => new NatsTransport({ partitions: '2' as unknown as number })).toThrow(
      'NatsTransport option partitions must be a positive integer, got "2"',
    );
  });

  it('shows the history of every partition to a new transport on the same stream: statuses, list order, dead letters, stats', async () => {
    const { makeBroker } = setup();
    const first = makeBroker('first', { partitions: 4 });
    await first.subscribe(
      'public.**',
      (event) => {
        if ((event.payload as { poison?: boolean }).poison) throw new Error('poison');
      },
      { group: 'audit', retry: { maxRetries: 0 } },
    );
    await first.start();
    const published = [];
    for (let index = 0; index < 12; index++) {
      published.push(await first.publish(createEvent({ type: 'public.users.create', payload: { index }, key: `user-${index}` })));
      // A millisecond apart: the partitions are merged by creation time.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const poison = await first.publish(createEvent({ type: 'public.users.delete', payload: { poison: true }, key: 'user-99' }));
    await waitFor(async () => (await first.transport.get(poison.id))?.status === 'failed', 'the poisoned event failed');
    for (const event of published) await waitFor(async () => (await first.transport.get(event.id))?.status === 'completed', 'completed');
    await first.stop();

    const second = makeBroker('second', { partitions: 4 });
    await second.start();
    const listed = await second.transport.list({ type: 'public.users.create' });
    expect(listed.map((event) => event.id)).toEqual(published.map((event) => event.id));
    expect(listed.every((event) => event.status === 'completed')).toBe(true);
    expect((await second.transport.list({ limit: 3, offset: 1, type: 'public.users.create' })).map((event) => event.id)).toEqual(
      published.slice(-4, -1).map((event) => event.id),
    );
    expect(await second.transport.get(poison.id)).toMatchObject({ status: 'failed', error: 'poison', key: 'user-99' });
    expect(await second.transport.deadLetters()).toMatchObject([{ group: 'audit', event: { id: poison.id } }]);
    const stats = await second.transport.stats();
    expect(stats).toMatchObject({ events: 13, deadLetters: 1, groups: { audit: { pending: 0, inFlight: 0, deadLetters: 1 } } });
    await second.transport.updateStatus(published[5].id, 'failed', { error: 'by hand' });
    expect(await second.transport.get(published[5].id)).toMatchObject({ status: 'failed', error: 'by hand' });
    expect(await second.transport.delete(published[6].id)).toBe(true);
    expect(await second.transport.get(published[6].id)).toBeNull();
  });
});
