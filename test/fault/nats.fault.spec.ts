import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type BrokerEvent } from '../../lib/index.js';
import { NatsTransport } from '../../lib/nats.js';
import { encodeName } from '../../lib/transports/nats/nats-names.js';
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

  it('handles an event again when its outcome could not be recorded, instead of leaving it pending for good', async () => {
    // The crash soak found events stuck in processing: a worker killed after acking a message and
    // before recording the group's outcome in the history. Here the history bucket is gone while
    // the outcome is written (a fault that can be staged): acked first, the message was never
    // delivered again and the event stayed pending once the bucket was back.
    const names = uniqueStream('outcome');
    cleanups.push(() => deleteStreams(names.stream));
    const admin = await connect({ servers: NATS_URL });
    cleanups.push(() => admin.close());
    const jsm = await admin.jetstreamManager();
    const historyBucket = `${names.stream}_HISTORY`;
    const logger = new RecordingLogger();
    const worker = broker(NATS_URL, names, 'worker', logger);
    let saved: Uint8Array | undefined;
    let calls = 0;
    await worker.subscribe(
      'public.orders.*',
      async (delivered) => {
        if (++calls > 1) return;
        saved = (await (await admin.jetstream().views.kv(historyBucket)).get(encodeName(delivered.id)))?.value;
        await jsm.streams.delete(`KV_${historyBucket}`);
      },
      { group: 'orders' },
    );
    await worker.start();
    const published = await worker.publish(event(1));

    await waitFor(
      () => logger.lines.some((line) => line.message.startsWith('Could not record the outcome of a delivery')),
      'the outcome to fail while the history bucket is gone',
      10_000,
    );
    const history = await admin.jetstream().views.kv(historyBucket, { history: 1, ttl: 7 * 24 * 60 * 60 * 1000 });
    await history.put(encodeName(published.id), saved as Uint8Array);
    await waitFor(
      async () => (await worker.transport.get(published.id))?.status === 'completed',
      'the event to complete once the history is back',
      15_000,
    );
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
