import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type BrokerEvent } from '../../lib/index.js';
import { NatsTransport } from '../../lib/nats.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../support/nats.js';
import { TestNatsServer } from '../support/nats-server.js';
import { RecordingLogger } from '../support/silent-logger.js';
import { startTestProcess } from '../support/test-process.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function broker(
  servers: string,
  names: { stream: string; subjectPrefix: string },
  instanceId: string,
  logger = new RecordingLogger(),
): EventBroker {
  const created = new EventBroker({
    transport: new NatsTransport({ servers, ...names, ackWaitMs: 1000, fetchExpiresMs: 1000 }),
    instanceId,
    logger,
    retry: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0 },
  });
  cleanups.push(() => created.stop());
  return created;
}

function event(n: number): BrokerEvent {
  return createEvent({ type: 'public.orders.create', source: 'database', payload: { n } });
}

describe('NATS faults', () => {
  it('handles every accepted event after the server restarts mid-stream', async () => {
    const server = await TestNatsServer.start();
    cleanups.push(() => server.stop());
    const worker = broker(server.url, uniqueStream('restart'), 'worker');
    const handled = new Map<number, number>();
    await worker.subscribe(
      'public.orders.*',
      (delivered) => {
        const n = (delivered.payload as { n: number }).n;
        handled.set(n, (handled.get(n) ?? 0) + 1);
      },
      { group: 'orders' },
    );
    await worker.start();

    const accepted: number[] = [];
    let refused = 0;
    for (let n = 0; n < 300; n++) {
      if (n === 100) {
        await server.kill();
        await server.restart();
      }
      try {
        await worker.publish(event(n));
        accepted.push(n);
      } catch {
        refused++;
      }
    }

    await waitFor(() => accepted.every((n) => handled.has(n)), 'every accepted event handled after the restart', 30_000);
    const duplicates = [...handled.values()].filter((count) => count > 1).length;
    console.log(
      `nats restart: ${accepted.length} accepted, ${refused} refused while down, ${handled.size} handled, ${duplicates} more than once`,
    );
    expect(accepted.length).toBeGreaterThan(200);
    expect(accepted).toContain(299);
  }, 60_000);

  it('dead-letters an event again when its dead letter could not be stored, instead of leaving it processing for good', async () => {
    // The outcome of a delivery is the engine's own: an ack, or a dead letter stored before the
    // message is terminated. Here the dead-letter stream is gone when the last attempt fails:
    // the message must come back once its ack_wait is over and end dead-lettered, not stay in flight.
    const names = uniqueStream('outcome');
    cleanups.push(() => deleteStreams(names.stream));
    const admin = await connect({ servers: NATS_URL });
    cleanups.push(() => admin.close());
    const jsm = await admin.jetstreamManager();
    const deadLetterStream = `${names.stream}_DLQ`;
    const logger = new RecordingLogger();
    const worker = broker(NATS_URL, names, 'worker', logger);
    let calls = 0;
    await worker.subscribe(
      'public.orders.*',
      async () => {
        if (++calls === 2) await jsm.streams.delete(deadLetterStream);
        throw new Error(`failure ${calls}`);
      },
      { group: 'orders', retry: { maxRetries: 1 } },
    );
    await worker.start();
    const published = await worker.publish(event(1));

    await waitFor(
      () => logger.lines.some((line) => line.message.startsWith('Could not record the outcome of a delivery')),
      'the dead letter to fail while its stream is gone',
      10_000,
    );
    await jsm.streams.add({ name: deadLetterStream, subjects: [`${names.subjectPrefix}-dlq.>`] });
    await waitFor(
      async () => (await worker.transport.get(published.id))?.status === 'failed',
      'the event to fail once the dead-letter stream is back',
      15_000,
    );
    const [deadLetter, ...others] = await worker.transport.deadLetters({ group: 'orders' });
    expect(others).toEqual([]);
    expect(deadLetter).toMatchObject({ group: 'orders', event: { id: published.id } });
    expect(calls).toBe(2);
  }, 60_000);

  it('redelivers the event of a consumer killed mid-handler to another instance after ack_wait', async () => {
    const server = await TestNatsServer.start();
    cleanups.push(() => server.stop());
    const names = uniqueStream('sigkill');
    const child = await startTestProcess(
      'test/support/nats-consumer-process.mjs',
      [server.url, names.stream, names.subjectPrefix, 'workers'],
      cleanups,
    );

    const publisher = broker(server.url, names, 'publisher');
    await publisher.start();
    const published = await publisher.publish(event(1));
    await waitFor(() => child.lines.includes(`started ${published.id}`), 'the child to start handling the event', 10_000);
    child.kill();

    const survivor = broker(server.url, names, 'survivor');
    const handled: BrokerEvent[] = [];
    await survivor.subscribe('public.**', (delivered) => void handled.push(delivered), { group: 'workers' });
    await survivor.start();
    await waitFor(() => handled.length === 1, 'the survivor to get the event after ack_wait', 15_000);
    expect(handled[0]).toMatchObject({ id: published.id, retryCount: 1 });
  }, 60_000);
});
