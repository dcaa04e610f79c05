import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, createEvent } from '../../lib/index.js';
import { NatsTransport } from '../../lib/nats.js';
import { uniqueStream } from '../support/nats.js';
import { TestNatsCluster } from '../support/nats-cluster.js';
import { handlings, keysOverlapped, orderViolations } from '../support/ordered-handlings.js';
import { RecordingLogger } from '../support/silent-logger.js';
import { startTestProcess, type TestProcess } from '../support/test-process.js';
import { waitFor } from '../support/wait-for.js';

const INSTANCE_SCRIPT = fileURLToPath(new URL('../support/ordered-instance-process.mjs', import.meta.url));
const PARTITIONS = 4;
const KEYS = 30;
const ROUND_MS = 100;
const ROUNDS_BEFORE_RESTART = 14;
const MAX_ROUNDS = 40;

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

/** The server leading the consumer `durable` on each partition's stream of `stream` now, by partition. */
async function consumerLeaders(servers: string[], stream: string, durable: string): Promise<string[]> {
  const connection = await connect({ servers });
  try {
    const jsm = await connection.jetstreamManager();
    return await Promise.all(
      Array.from(
        { length: PARTITIONS },
        async (_, partition) => (await jsm.consumers.info(`${stream}_P${partition}`, durable)).cluster?.leader ?? '',
      ),
    );
  } finally {
    await connection.close();
  }
}

/**
 * Whether every stream of `stream` (events, dead letters, progress, the groups and leases buckets)
 * has a leader and all its replicas current: nats-server 2.9 may place the ephemeral consumer of a
 * starting instance's bucket watch on a replica that is down, and that start times out.
 */
async function streamsWhole(servers: string[], stream: string): Promise<boolean> {
  const names = [
    ...Array.from({ length: PARTITIONS }, (_, partition) => `${stream}_P${partition}`),
    `${stream}_DLQ`,
    `${stream}_PROGRESS`,
    `KV_${stream}_GROUPS`,
    `KV_${stream}_LEASES`,
  ];
  try {
    const connection = await connect({ servers, timeout: 1000 });
    try {
      const jsm = await connection.jetstreamManager({ timeout: 1000 });
      const infos = await Promise.all(names.map((name) => jsm.streams.info(name)));
      return infos.every(
        ({ cluster }) => Boolean(cluster?.leader) && (cluster?.replicas ?? []).every((replica) => replica.current && !replica.offline),
      );
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/** How many handlings the instance began. */
function handlingsOf(instance: TestProcess): number {
  return handlings([instance]).length;
}

describe('NATS cluster faults of ordered groups', () => {
  it('keeps each key in publish order over three instances on a 3-node cluster, one instance and the node leading most partition consumers killed midway', async () => {
    const cluster = await TestNatsCluster.start(3);
    cleanups.push(() => cluster.stop());
    const { stream, subjectPrefix } = uniqueStream('ordered_cluster');
    // A short ack wait (the lease): the killed instance's partitions are taken over within 2 s.
    const options = {
      servers: cluster.urls,
      replicas: 3,
      stream,
      subjectPrefix,
      partitions: PARTITIONS,
      ackWaitMs: 2000,
      fetchExpiresMs: 1000,
    };
    const group = `ordered-${randomUUID().slice(0, 8)}`;
    const instance = (id: string): Promise<TestProcess> =>
      startTestProcess(INSTANCE_SCRIPT, ['nats', JSON.stringify(options), group, id], cleanups);
    // The first creates the replicated streams, the others find them.
    const instances = [await instance('a')];
    instances.push(...(await Promise.all([instance('b'), instance('c')])));
    const publisher = new EventBroker({ transport: new NatsTransport(options), logger: new RecordingLogger() });
    await publisher.start();
    cleanups.push(() => publisher.stop());

    // One event of every key per round, a round every 100 ms: within a key, publish order is the round.
    let published = 0;
    const publishRound = async (round: number): Promise<void> => {
      await Promise.all(
        Array.from({ length: KEYS }, (_, key) =>
          publisher.publish(createEvent({ type: 'ordering.step.run', key: `key-${key}`, payload: { n: round * KEYS + key } })),
        ),
      );
      published += KEYS;
      await new Promise((resolve) => setTimeout(resolve, ROUND_MS));
    };
    const succeeded = (): number =>
      new Set(handlings(instances).flatMap((handling) => (handling.end === undefined ? [] : [handling.n]))).size;

    // The instance and the node die while events flow: the rounds go on, waiting for the new leaders.
    const flowing = (async () => {
      for (let round = 0; round < ROUNDS_BEFORE_RESTART; round++) await publishRound(round);
    })();
    await waitFor(
      () => published >= KEYS * 6 && instances.every((running) => handlingsOf(running) > 0),
      'six rounds published and every instance handling',
      20_000,
    );
    // The node that leads most of the group's partition consumers: the takeover of the killed
    // instance's partitions deletes and adds again consumers that are electing a new leader.
    const leaders = await consumerLeaders(cluster.urls, stream, group);
    const counts = cluster.names.map((name) => leaders.filter((leader) => leader === name).length);
    const killedNode = counts.indexOf(Math.max(...counts));
    instances[1].kill();
    await cluster.kill(killedNode);
    await flowing;

    await cluster.restart(killedNode);
    await waitFor(() => streamsWhole(cluster.urls, stream), 'the restarted node to catch up with every stream', 20_000);
    const restarted = await instance('b');
    instances.push(restarted);
    // Until the restarted instance handles its share, given back to it by the others.
    for (let round = ROUNDS_BEFORE_RESTART; round < MAX_ROUNDS && handlingsOf(restarted) === 0; round++) await publishRound(round);
    await waitFor(() => succeeded() === published, `all ${published} events handled`, 30_000);

    const handled = handlings(instances);
    const duplicates = handled.filter((handling) => handling.end !== undefined).length - published;
    console.log(
      `ordered groups (nats cluster): node ${killedNode} (leading ${counts[killedNode]} of ${PARTITIONS} partition consumers) and instance b killed; ${handled.length} handlings of ${published} events, ${duplicates} repeated`,
    );
    expect(orderViolations(handled)).toEqual([]);
    expect(keysOverlapped(handled)).toBe(true);
    expect(handlingsOf(restarted)).toBeGreaterThan(0);
  }, 60_000);
});
