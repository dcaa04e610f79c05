import { randomUUID } from 'node:crypto';
import { connect, type KV, type NatsConnection } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NatsPartitionLeases,
  type PartitionHandOver,
  type PartitionOwner,
  type PreviousOwner,
} from '../../../lib/transports/nats/nats-partition-leases.js';
import { NATS_URL } from '../../support/nats.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

const LEASE_MS = 1000;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

/** What a member's consumer was told: the partitions it took (and how their owner left them), lost and gave back. */
class RecordingOwner implements PartitionOwner {
  readonly taken: { partition: number; previous: PreviousOwner }[] = [];
  readonly lost: { partition: number; why: string }[] = [];
  readonly givenBack: number[] = [];

  constructor(
    private readonly given: PartitionHandOver = { received: 0, unsettled: {} },
    /** How long each takeover lasts (a consumer deleted and added again, a subscription opened). */
    private readonly takingMs = 0,
  ) {}

  async takeOver(partition: number, previous: PreviousOwner): Promise<void> {
    this.taken.push({ partition, previous });
    await new Promise((resolve) => setTimeout(resolve, this.takingMs));
  }

  fence(partition: number, why: string): void {
    this.lost.push({ partition, why });
  }

  async handOver(partition: number): Promise<PartitionHandOver> {
    this.givenBack.push(partition);
    return this.given;
  }
}

/** A bucket of its own, and members on connections of their own (as instances of the group would be). */
async function setup(partitions: number) {
  const bucket = `EBTEST_LEASES_${randomUUID().slice(0, 8)}`;
  const connections: NatsConnection[] = [];
  const admin = await connect({ servers: NATS_URL });
  connections.push(admin);
  cleanups.push(async () => {
    await (await admin.jetstreamManager()).streams.delete(`KV_${bucket}`).catch(() => false);
    for (const connection of connections) await connection.close().catch(() => undefined);
  });
  await admin.jetstream().views.kv(bucket, { history: 1 });
  /** The keys the bucket's stream holds a message of (a value or a delete marker). */
  const stored = async () =>
    Object.keys((await (await admin.jetstreamManager()).streams.info(`KV_${bucket}`, { subjects_filter: '>' })).state.subjects ?? {})
      .map((subject) => subject.slice(`$KV.${bucket}.`.length))
      .toSorted();
  const group = `orders ${randomUUID().slice(0, 4)}`;
  const member = async (name: string, handOver?: PartitionHandOver, takingMs?: number) => {
    const connection = await connect({ servers: NATS_URL });
    connections.push(connection);
    const kv: KV = await connection.jetstream().views.kv(bucket);
    const jsm = await connection.jetstreamManager();
    const leases = new NatsPartitionLeases({ kv, jsm, group, partitions, leaseMs: LEASE_MS, name, logger: new RecordingLogger() });
    const owner = new RecordingOwner(handOver, takingMs);
    await leases.join(owner);
    cleanups.unshift(() => Promise.resolve(leases.stop()));
    return { leases, owner, connection };
  };
  return { member, stored };
}

/** The partitions each member may hand out now. */
function handing(...members: { leases: NatsPartitionLeases }[]): number[][] {
  return members.map(({ leases }) => leases.partitionsHeld().filter((partition) => leases.holds(partition)));
}

describe('NatsPartitionLeases', () => {
  it('shares the partitions among the live members: all to one, 3/3 with two, 2/2/2 with three, never one partition to two', async () => {
    const { member } = await setup(6);
    const a = await member('a', { received: 7, unsettled: { '5': 2, '6': 0 } });
    a.leases.start();
    await waitFor(() => handing(a)[0].length === 6, 'a holds all six partitions');
    expect(a.owner.taken.map(({ previous }) => previous.left)).toEqual(Array(6).fill('never'));

    const overlaps: string[] = [];
    const watchOverlap = (members: { leases: NatsPartitionLeases }[]) =>
      setInterval(() => {
        const held = handing(...members).flat();
        if (new Set(held).size !== held.length) overlaps.push(held.join(','));
      }, 5);
    const b = await member('b');
    let watching = watchOverlap([a, b]);
    b.leases.start();
    await waitFor(() => handing(a, b).every((held) => held.length === 3), 'three partitions each');
    clearInterval(watching);
    // Given back by a with its hand-over, taken by b with it, well before a lease could have run out.
    expect(b.owner.taken.map(({ partition }) => partition).toSorted()).toEqual(a.owner.givenBack.toSorted());
    expect(b.owner.taken.every(({ previous }) => previous.left === 'released')).toBe(true);
    expect(b.owner.taken[0].previous).toEqual({ left: 'released', handOver: { received: 7, unsettled: { '5': 2, '6': 0 } } });

    const c = await member('c');
    watching = watchOverlap([a, b, c]);
    c.leases.start();
    await waitFor(() => handing(a, b, c).every((held) => held.length === 2), 'two partitions each');
    clearInterval(watching);
    expect(overlaps).toEqual([]);
    expect(handing(a, b, c).flat().toSorted()).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...a.owner.lost, ...b.owner.lost, ...c.owner.lost]).toEqual([]);
  });

  it('gives a leaving member’s partitions to the one left at once, with the hand-over', async () => {
    const { member } = await setup(4);
    const a = await member('a', { received: 3, unsettled: { '2': 1 } });
    const b = await member('b');
    a.leases.start();
    b.leases.start();
    await waitFor(() => handing(a, b).every((held) => held.length === 2), 'two partitions each');

    const leftAt = Date.now();
    await a.leases.leave();
    await waitFor(() => handing(b)[0].length === 4, 'b holds all four partitions');
    expect(Date.now() - leftAt).toBeLessThan(LEASE_MS / 2);
    expect(handing(a)[0]).toEqual([]);
    const fromA = b.owner.taken.filter(({ partition }) => a.owner.givenBack.includes(partition));
    expect(fromA.map(({ previous }) => previous)).toEqual([
      { left: 'released', handOver: { received: 3, unsettled: { '2': 1 } } },
      { left: 'released', handOver: { received: 3, unsettled: { '2': 1 } } },
    ]);
    expect(b.leases.members()).toEqual([b.leases.token]);
  });

  it('gives back a partition it is still taking over when it leaves: the next member takes it at once, not after a lease', async () => {
    const { member } = await setup(1);
    const a = await member('a', { received: 4, unsettled: {} }, 300);
    a.leases.start();
    await waitFor(() => a.owner.taken.length === 1, 'a is taking the partition over');
    const b = await member('b');
    b.leases.start();

    const leftAt = Date.now();
    await a.leases.leave();
    await waitFor(() => handing(b)[0].length === 1, 'b holds the partition');
    expect(Date.now() - leftAt).toBeLessThan(LEASE_MS / 2 + 300);
    expect(a.owner.givenBack).toEqual([0]);
    expect(b.owner.taken).toEqual([{ partition: 0, previous: { left: 'released', handOver: { received: 4, unsettled: {} } } }]);
  });

  it('keeps no record of members gone: a member that joins purges those deleted a lease ago and more', async () => {
    const { member, stored } = await setup(2);
    const a = await member('a');
    a.leases.start();
    await waitFor(() => handing(a)[0].length === 2, 'a holds both partitions');
    await a.leases.leave();
    const b = await member('b');
    const markerOfA = (await stored()).filter((key) => key.endsWith(`.members.${a.leases.token}`));
    await new Promise((resolve) => setTimeout(resolve, LEASE_MS));

    const c = await member('c');
    const members = (await stored()).filter((key) => key.includes('.members.')).map((key) => key.split('.').at(-1));
    expect(markerOfA).toHaveLength(1);
    expect(members.toSorted()).toEqual([b.leases.token, c.leases.token].toSorted());
  });

  it('takes the partitions of a member that stopped renewing once its lease ran out; that member stopped handing out before, and its late renewal fails', async () => {
    const { member } = await setup(3);
    const stalled = await member('stalled');
    // Its rounds run only when the test says: it stalls after this one.
    await stalled.leases.round();
    expect(handing(stalled)[0]).toEqual([0, 1, 2]);
    const renewedAt = Date.now();

    const other = await member('other');
    const joinedAt = Date.now();
    other.leases.start();
    await waitFor(() => handing(other)[0].length === 3, 'the other member holds all three partitions', 10_000);
    const takenAt = Date.now();
    // The other member saw the stalled one's lease unchanged for a whole lease, from when it joined.
    expect(takenAt - joinedAt).toBeGreaterThanOrEqual(LEASE_MS);
    expect(other.owner.taken.map(({ previous }) => previous.left)).toEqual(['lost', 'lost', 'lost']);
    expect(takenAt - renewedAt).toBeGreaterThanOrEqual(LEASE_MS);
    // Past its lease, the stalled member hands nothing out, even before it hears of the new owner.
    expect(handing(stalled)[0]).toEqual([]);
    expect(stalled.owner.lost.map(({ why }) => why)).toEqual(Array(3).fill('its lease could not be renewed in time'));
  });

  it('loses a partition whose lease another member took while it stalled: its renewal fails', async () => {
    const { member } = await setup(1);
    const stalled = await member('stalled');
    await stalled.leases.round();
    const other = await member('other');
    other.leases.start();
    await waitFor(() => handing(other)[0].length === 1, 'the other member holds the partition', 10_000);

    // It wakes up: its renewal names a revision that is gone.
    await stalled.leases.round();
    expect(stalled.owner.lost).toEqual([{ partition: 0, why: 'another consumer holds its lease' }]);
    // Its heartbeat may make the other give the partition back to it (when it ranks first): handed over, never lost, never both.
    expect(handing(stalled, other).flat().length).toBeLessThanOrEqual(1);
    expect(other.owner.lost).toEqual([]);
    expect(stalled.owner.taken.slice(1).map(({ previous }) => previous.left)).not.toContain('lost');
  });
});
