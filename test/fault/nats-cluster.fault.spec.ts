import { connect, type StreamInfo } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent, type BrokerEvent } from '../../lib/index.js';
import { NatsTransport } from '../../lib/nats.js';
import { uniqueStream } from '../support/nats.js';
import { TestNatsCluster } from '../support/nats-cluster.js';
import { RecordingLogger } from '../support/silent-logger.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

function event(n: number): BrokerEvent {
  return createEvent({ type: 'public.orders.create', source: 'database', payload: { n } });
}

/** The cluster's view of `stream` now: its leader and its replicas. */
async function clusterOf(servers: string[], stream: string): Promise<StreamInfo['cluster']> {
  const connection = await connect({ servers });
  try {
    return (await (await connection.jetstreamManager()).streams.info(stream)).cluster;
  } finally {
    await connection.close();
  }
}

describe('NATS cluster faults', () => {
  it('loses no acknowledged event when the stream leader dies mid-stream: publishes wait for the new leader, the group keeps consuming', async () => {
    const cluster = await TestNatsCluster.start(3);
    cleanups.push(() => cluster.stop());
    const names = uniqueStream('cluster');
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: cluster.urls, replicas: 3, ...names, ackWaitMs: 2000, fetchExpiresMs: 1000 }),
      instanceId: 'worker',
      logger: new RecordingLogger(),
      retry: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0 },
    });
    cleanups.push(() => broker.stop());
    const handled = new Map<number, number>();
    await broker.subscribe(
      'public.orders.*',
      (delivered) => {
        const n = (delivered.payload as { n: number }).n;
        handled.set(n, (handled.get(n) ?? 0) + 1);
      },
      { group: 'orders' },
    );
    await broker.start();

    const acknowledged: number[] = [];
    const refusals: string[] = [];
    let longestPublishMs = 0;
    // A publish that failed may not be stored: the publisher sends the same event again (its id
    // makes a copy that was stored after all count once).
    const publish = async (n: number): Promise<void> => {
      const published = event(n);
      const started = Date.now();
      for (;;) {
        try {
          await broker.publish(published);
          acknowledged.push(n);
          break;
        } catch (error) {
          refusals.push(String(error));
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      longestPublishMs = Math.max(longestPublishMs, Date.now() - started);
    };
    let killed = -1;
    for (let batch = 0; batch < 30; batch++) {
      // Ten publishes at a time: the leader dies with some of them in flight.
      const publishes = Array.from({ length: 10 }, (_, n) => publish(batch * 10 + n));
      if (batch === 15) {
        killed = cluster.names.indexOf((await clusterOf(cluster.urls, names.stream))?.leader ?? '');
        await cluster.kill(killed);
      }
      await Promise.all(publishes);
    }

    await waitFor(() => acknowledged.every((n) => handled.has(n)), 'every acknowledged event handled after the leader died', 30_000);
    const duplicates = [...handled.values()].filter((count) => count > 1).length;
    console.log(
      `nats cluster: node ${killed}, the stream leader, killed; ${acknowledged.length} acknowledged, longest publish ${longestPublishMs} ms, ${refusals.length} refused, ${duplicates} handled more than once`,
    );
    expect(killed).toBeGreaterThanOrEqual(0);
    expect(refusals).toEqual([]);
    expect((await clusterOf(cluster.urls, names.stream))?.leader).not.toBe(cluster.names[killed]);

    // Back, the node catches up with what was stored without it.
    await cluster.restart(killed);
    await waitFor(
      async () => (await clusterOf(cluster.urls, names.stream))?.replicas?.every((replica) => replica.current && !replica.lag) ?? false,
      'the restarted node to catch up with the stream',
      20_000,
    );
  }, 90_000);
});
