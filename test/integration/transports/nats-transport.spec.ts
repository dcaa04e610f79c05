import { connect, headers as createHeaders } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, cloudEventCodec, createEvent } from '../../../lib/index.js';
import { NatsTransport } from '../../../lib/nats.js';
import { freePort } from '../../support/free-port.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../../support/nats.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function setup() {
  const names = uniqueStream('nats');
  cleanups.push(() => deleteStreams(names.stream));
  const makeBroker = (instanceId: string, logger = new RecordingLogger()): EventBroker => {
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: NATS_URL, ...names, ackWaitMs: 1000, fetchExpiresMs: 1000 }),
      instanceId,
      logger,
      retry: { initialDelayMs: 10, maxDelayMs: 50, jitter: 0 },
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
  return { ...names, makeBroker };
}

async function startFailure(transport: NatsTransport): Promise<Error> {
  const broker = new EventBroker({ transport, logger: new RecordingLogger() });
  return broker.start().then(
    () => new Error('started'),
    (error: Error) => error,
  );
}

describe('NatsTransport', () => {
  it("with subjectLayout 'type', publishes on the type and delivers to a pattern that starts with a wildcard", async () => {
    const names = uniqueStream('layout');
    cleanups.push(() => deleteStreams(names.stream));
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: NATS_URL, ...names, subjectLayout: 'type', ackWaitMs: 1000, fetchExpiresMs: 1000 }),
      logger: new RecordingLogger(),
    });
    cleanups.push(() => broker.stop());
    const seen: string[] = [];
    await broker.subscribe('*.user.created', (event) => void seen.push(event.type), { group: 'any-schema' });
    await broker.start();

    await broker.publish(createEvent({ type: `${names.subjectPrefix}.user.created`, payload: { id: 1 } }));
    await broker.publish(createEvent({ type: `${names.subjectPrefix}.user.deleted`, payload: { id: 1 } }));

    await waitFor(() => seen.length === 1, 'the matching event delivered');
    expect(seen).toEqual([`${names.subjectPrefix}.user.created`]);
    await expect(broker.publish(createEvent({ type: 'billing.invoice.paid', payload: {} }))).rejects.toThrow(
      `it must start with the subject prefix "${names.subjectPrefix}."`,
    );
  });

  it('fails to start with an error naming the server when NATS cannot be reached', async () => {
    const port = await freePort();
    const failure = await startFailure(new NatsTransport({ servers: `nats://127.0.0.1:${port}`, pass: 's3cret', user: 'u' }));
    expect(failure).toBeInstanceOf(EventBrokerError);
    expect(failure.message).toContain(`Cannot reach NATS at nats://127.0.0.1:${port}`);
    expect(failure.message).not.toContain('s3cret');
    expect(failure.cause).toBeInstanceOf(Error);
  });

  it('fails to start with a clear error when JetStream is disabled', async () => {
    const server = await TestNatsServer.start({ jetstream: false });
    cleanups.push(() => server.stop());
    const failure = await startFailure(new NatsTransport({ servers: server.url }));
    expect(failure.message).toMatch(/has no JetStream \(start nats-server with -js\)/);
    expect(failure.cause).toBeInstanceOf(Error);
  });

  it('logs and dead-letters an unreadable message with its control characters escaped and its quotes bounded', async () => {
    const { subjectPrefix, makeBroker } = setup();
    const logger = new RecordingLogger();
    const broker = makeBroker('consumer', logger);
    await broker.subscribe('**', () => undefined, { group: 'all' });
    await broker.start();
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    const js = connection.jetstream();
    await js.publish(`${subjectPrefix}.system.bad.message`, 'not json\u0000\r\nsecond line');
    await js.publish(`${subjectPrefix}.system.bad.message`, JSON.stringify({ specversion: `1.0\r\n${'x'.repeat(5000)}`, id: '1' }));

    const unreadable = () => logger.lines.filter((line) => line.message.startsWith('Unreadable message'));
    await waitFor(() => unreadable().length === 2, 'both messages reported');
    const deadLetters = await broker.transport.deadLetters({ group: 'all' });
    const texts = [...unreadable().map((line) => line.message), ...deadLetters.map((deadLetter) => deadLetter.error)];
    expect(texts).toHaveLength(4);
    for (const text of texts) {
      expect(text).not.toMatch(/\p{Cc}/u);
      expect(text.length).toBeLessThan(500);
    }
    expect(unreadable()[0].message).toContain('"not json\\u0000\\r\\n"');
    expect(unreadable()[1].message).toMatch(/specversion must be "1\.0", got "1\.0\\r\\nx+"… \(5005 chars\)/);
  });

  it('handles a foreign event whose partitionkey is no valid key (a number, an empty string) as an event without a key', async () => {
    const { subjectPrefix, makeBroker } = setup();
    const logger = new RecordingLogger();
    const broker = makeBroker('consumer', logger);
    const seen: { id: string; key: string | undefined; metadata: object }[] = [];
    await broker.subscribe('**', (event) => void seen.push({ id: event.id, key: event.key, metadata: event.metadata }), { group: 'all' });
    await broker.start();
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    const js = connection.jetstream();
    for (const [id, partitionkey] of [
      ['kafka-1', 42],
      ['kafka-2', ''],
    ] as const) {
      const document = { specversion: '1.0', id, source: 'system', type: 'billing.invoices.create', data: {}, partitionkey };
      await js.publish(`${subjectPrefix}.system.billing.invoices.create`, JSON.stringify(document));
    }

    await waitFor(() => seen.length === 2, 'both foreign events handled');
    expect(seen).toEqual([
      { id: 'kafka-1', key: undefined, metadata: { partitionkey: 42 } },
      { id: 'kafka-2', key: undefined, metadata: { partitionkey: '' } },
    ]);
    expect(await broker.transport.deadLetters({ group: 'all' })).toEqual([]);
    expect(logger.lines.filter((line) => line.message.startsWith('Unreadable message'))).toEqual([]);
  });

  it('stores a publish retried with the same event id once', async () => {
    const { stream, makeBroker } = setup();
    const broker = makeBroker('api');
    const seen: string[] = [];
    await broker.subscribe('public.**', (event) => void seen.push(event.id), { group: 'g' });
    await broker.start();
    const event = createEvent({ type: 'public.users.create', payload: {} });
    await broker.publish(event);
    await broker.publish(event);
    await waitFor(() => seen.length >= 1, 'delivery');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).toEqual([event.id]);
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    expect((await (await connection.jetstreamManager()).streams.info(stream)).state.messages).toBe(1);
  });

  it('carries the trace context as NATS headers too', async () => {
    const { subjectPrefix, makeBroker } = setup();
    const broker = makeBroker('api');
    await broker.start();
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    const subscription = connection.subscribe(`${subjectPrefix}.>`, { max: 1 });
    // The server has the subscription once a flush came back: a publish before that could pass it by.
    await connection.flush();
    const received = (async () => {
      for await (const message of subscription) return message;
      return undefined;
    })();
    await broker.publish(createEvent({ type: 'public.users.create', payload: {}, metadata: { traceparent: '00-a-b-01' } }));
    expect((await received)?.headers?.get('traceparent')).toBe('00-a-b-01');
  });

  it('keeps the history in the stream: one message per event, nothing beside it, and dead letters on <prefix>-dlq.<group>.<sequence>', async () => {
    const { stream, subjectPrefix, makeBroker } = setup();
    const broker = makeBroker('api');
    await broker.subscribe(
      'public.users.*',
      (event) => {
        if ((event.payload as { poison?: boolean }).poison) throw new Error('poison');
      },
      { group: 'app.Mailer.send', retry: { maxRetries: 0 } },
    );
    await broker.start();
    const poison = await broker.publish(createEvent({ type: 'public.users.create', payload: { poison: true } }));
    const good = [
      await broker.publish(createEvent({ type: 'public.users.create', payload: {} })),
      await broker.publish(createEvent({ type: 'public.users.update', payload: {} })),
    ];

    await waitFor(async () => (await broker.transport.get(poison.id))?.status === 'failed', 'the poisoned event failed');
    for (const event of good) await waitFor(async () => (await broker.transport.get(event.id))?.status === 'completed', 'completed');
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    const jsm = await connection.jetstreamManager();
    expect((await jsm.streams.info(stream)).state.messages).toBe(3);
    await expect(jsm.streams.info(`KV_${stream}_HISTORY`)).rejects.toThrow(/not found/);
    const deadLetters = await jsm.streams.info(`${stream}_DLQ`, { subjects_filter: '>' });
    expect(deadLetters.state.subjects).toEqual({ [`${subjectPrefix}-dlq.app_2eMailer_2esend.1`]: 1 });
  });

  it('refuses to start on the history bucket of an earlier version, saying what to do; without it, shows the events of old dead letters failed', async () => {
    const { stream, subjectPrefix } = setup();
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    const jsm = await connection.jetstreamManager();
    const js = connection.jetstream();
    // What the earlier version left: an event, its dead letter on <prefix>-dlq.<group>, the history bucket.
    await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.>`] });
    await jsm.streams.add({ name: `${stream}_DLQ`, subjects: [`${subjectPrefix}-dlq.>`] });
    const event = createEvent({ type: 'public.users.create', source: 'database', payload: { n: 1 } });
    const body = cloudEventCodec.encode(event);
    await js.publish(`${subjectPrefix}.database.public.users.create`, body, { msgID: event.id });
    const headers = createHeaders();
    headers.set('Eb-Group', 'mailer');
    headers.set('Eb-Error', 'smtp down');
    headers.set('Eb-Attempts', '4');
    headers.set('Eb-Dead-At', String(Date.now()));
    await js.publish(`${subjectPrefix}-dlq.mailer`, body, { headers });
    await js.views.kv(`${stream}_HISTORY`);

    const refused = new NatsTransport({ servers: NATS_URL, stream, subjectPrefix });
    const refusal = await refused.connect({ logger: new RecordingLogger() }).then(
      () => new Error('connected'),
      (error: Error) => error,
    );
    await refused.close();
    expect(refusal).toBeInstanceOf(EventBrokerError);
    expect(refusal.message).toContain(`NATS stream ${stream} has the history bucket ${stream}_HISTORY of an earlier nestjs-event-broker`);
    expect(refusal.message).toContain(`Stop every instance of the earlier version`);
    expect(refusal.message).toContain(`then delete the bucket (nats kv del ${stream}_HISTORY)`);

    await jsm.streams.delete(`KV_${stream}_HISTORY`);
    const transport = new NatsTransport({ servers: NATS_URL, stream, subjectPrefix });
    cleanups.push(() => transport.close());
    await transport.connect({ logger: new RecordingLogger() });
    expect(await transport.get(event.id)).toMatchObject({ id: event.id, status: 'failed', error: 'smtp down', retryCount: 3 });
    expect(await transport.deadLetters()).toMatchObject([{ group: 'mailer', error: 'smtp down', attempts: 4, event: { id: event.id } }]);
    expect((await jsm.streams.info(`${stream}_DLQ`, { subjects_filter: '>' })).state.subjects).toEqual({
      [`${subjectPrefix}-dlq.mailer.1`]: 1,
    });
  });
});
