import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerError, createEvent } from '../../../lib/index.js';
import { NatsTransport } from '../../../lib/nats.js';
import { freePort } from '../../support/free-port.js';
import { uniqueStream } from '../../support/nats.js';
import { TestNatsCluster } from '../../support/nats-cluster.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

describe('NatsTransport on a 3-node JetStream cluster', () => {
  let cluster: TestNatsCluster;

  beforeAll(async () => {
    cluster = await TestNatsCluster.start(3);
  }, 30_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('stores every stream, the groups and leases buckets and each group consumer on all three nodes with replicas 3', async () => {
    const names = uniqueStream('replicas');
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: cluster.urls, replicas: 3, ...names, fetchExpiresMs: 1000 }),
      logger: new RecordingLogger(),
    });
    const handled: string[] = [];
    await broker.subscribe('public.orders.*', (event) => void handled.push(event.id), { group: 'orders' });
    await broker.start();
    try {
      const published = await broker.publish(createEvent({ type: 'public.orders.create', payload: {} }));
      await waitFor(() => handled.includes(published.id), 'the event handled');

      const connection = await connect({ servers: cluster.urls });
      try {
        const jsm = await connection.jetstreamManager();
        const streams = (await jsm.streams.list().next()).filter((info) => info.config.name.includes(names.stream));
        expect(streams.map((info) => info.config.name).toSorted()).toEqual(
          [
            names.stream,
            `${names.stream}_DLQ`,
            `${names.stream}_PROGRESS`,
            `KV_${names.stream}_GROUPS`,
            `KV_${names.stream}_LEASES`,
          ].toSorted(),
        );
        for (const info of streams) {
          expect({ stream: info.config.name, replicas: info.config.num_replicas, followers: info.cluster?.replicas?.length }).toEqual({
            stream: info.config.name,
            replicas: 3,
            followers: 2,
          });
        }
        expect((await jsm.consumers.info(names.stream, 'orders')).cluster?.replicas).toHaveLength(2);
      } finally {
        await connection.close();
      }
    } finally {
      await broker.stop();
    }
  });

  it('spreads the partitions over the servers: each partition stream elects a leader of its own, and a group reads them all', async () => {
    const names = uniqueStream('spread');
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: cluster.urls, replicas: 3, partitions: 8, ...names, fetchExpiresMs: 1000 }),
      logger: new RecordingLogger(),
    });
    const handled = new Set<string>();
    await broker.subscribe('public.orders.*', (event) => void handled.add(event.id), { group: 'orders' });
    await broker.start();
    try {
      const published: { id: string }[] = [];
      for (let index = 0; index < 24; index++) {
        published.push(await broker.publish(createEvent({ type: 'public.orders.create', payload: {}, key: `order-${index}` })));
      }
      await waitFor(() => published.every((event) => handled.has(event.id)), 'every event handled');

      const connection = await connect({ servers: cluster.urls });
      try {
        const jsm = await connection.jetstreamManager();
        const leaders = await Promise.all(
          [0, 1, 2, 3, 4, 5, 6, 7].map(async (partition) => {
            const info = await jsm.streams.info(`${names.stream}_P${partition}`);
            expect(info.state.messages).toBeGreaterThan(0);
            return info.cluster?.leader;
          }),
        );
        // Every server holds every partition (replicas 3), and each stream elects its own leader: eight do not all pick the same one.
        expect(new Set(leaders).size).toBeGreaterThan(1);
      } finally {
        await connection.close();
      }
      expect(await broker.transport.stats()).toMatchObject({ events: 24, groups: { orders: { pending: 0, inFlight: 0 } } });
    } finally {
      await broker.stop();
    }
  });

  it('takes servers as one comma-separated string, every one of them: it connects through the others when one does not answer', async () => {
    const down = `nats://127.0.0.1:${await freePort()}`;
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: [...cluster.urls, down].join(','), ...uniqueStream('servers'), fetchExpiresMs: 1000 }),
      logger: new RecordingLogger(),
    });
    const handled: string[] = [];
    await broker.subscribe('public.orders.*', (event) => void handled.push(event.id), { group: 'orders' });
    await broker.start();
    try {
      const published = await broker.publish(createEvent({ type: 'public.orders.create', payload: {} }));
      await waitFor(() => handled.includes(published.id), 'the event handled');
      expect(handled).toContain(published.id);
    } finally {
      await broker.stop();
    }
  });

  it('subscribes a group whose consumer lost its leader with a node a moment ago, once the two nodes left elected another', async () => {
    const names = uniqueStream('consumer');
    const transport = (): NatsTransport =>
      new NatsTransport({ servers: cluster.urls, replicas: 3, ...names, ackWaitMs: 2000, fetchExpiresMs: 1000 });
    // The group's consumer was made by an earlier deploy.
    const earlier = new EventBroker({ transport: transport(), logger: new RecordingLogger() });
    await earlier.subscribe('public.orders.*', () => undefined, { group: 'orders' });
    await earlier.start();
    await earlier.stop();
    const broker = new EventBroker({ transport: transport(), logger: new RecordingLogger() });
    await broker.start();

    const connection = await connect({ servers: cluster.urls });
    const leader = (await (await connection.jetstreamManager()).consumers.info(names.stream, 'orders')).cluster?.leader ?? '';
    await connection.close();
    const killed = cluster.names.indexOf(leader);
    await cluster.kill(killed);
    try {
      const handled: string[] = [];
      await broker.subscribe('public.orders.*', (event) => void handled.push(event.id), { group: 'orders' });
      const published = await broker.publish(createEvent({ type: 'public.orders.create', payload: {} }));
      await waitFor(() => handled.includes(published.id), 'the event handled', 15_000);
      expect(handled).toContain(published.id);
    } finally {
      await broker.stop();
      await cluster.restart(killed);
    }
  }, 60_000);

  it('fails to start on a cluster without a majority, saying its JetStream did not answer rather than that it has none', async () => {
    await cluster.kill(1);
    await cluster.kill(2);
    try {
      const broker = new EventBroker({
        transport: new NatsTransport({ servers: cluster.urls[0], replicas: 3, ...uniqueStream('majority') }),
        logger: new RecordingLogger(),
      });
      const failure = await broker.start().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(EventBrokerError);
      expect((failure as Error).message).toMatch(
        new RegExp(
          `^NATS at 127.0.0.1:${new URL(cluster.urls[0]).port} runs JetStream, but it did not answer about .* \\(on a cluster: no meta leader`,
        ),
      );
    } finally {
      await Promise.all([cluster.restart(1), cluster.restart(2)]);
    }
  });

  it('refuses servers with an empty entry, naming the option', () => {
    expect(() => new NatsTransport({ servers: `${cluster.urls[0]},,${cluster.urls[1]}` })).toThrow(
      new EventBrokerError(
        `NatsTransport option servers must be a URL, several separated by commas, or a list of URLs, got "${cluster.urls[0]},,${cluster.urls[1]}"`,
      ),
    );
  });
});
