import { randomUUID } from 'node:crypto';
import type { ConsumerConfig, JetStreamManager, KV, KvEntry, QueuedIterator } from 'nats';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import { encodeName } from './nats-names.js';

/** The error code of a KV write whose expected revision was not the key's: another member wrote it first. */
const WRONG_REVISION = 10071;

/** What an owner that gave a partition back tells the next one. */
export interface PartitionHandOver {
  /** The highest stream sequence it received from the partition's consumer (0: none). */
  received: number;
  /** The sequences it received and did not settle, with the attempts each had (0: never handled). */
  unsettled: Record<string, number>;
}

/** How the partition's previous owner left it, as the member that takes it finds it. */
export type PreviousOwner =
  /** Nobody owned it before. */
  | { left: 'never' }
  /** Given back cleanly, with what the owner had received and not settled. */
  | { left: 'released'; handOver: PartitionHandOver }
  /** Its owner's lease ran out (it crashed, stalled or lost the server), or this member lost it itself: what it had out is unknown. */
  | { left: 'lost' };

/** What the member does with the partitions it gets and loses: the ordered consumer of the group. */
export interface PartitionOwner {
  /** The partition is this member's: resolves once it may hand out its messages. */
  takeOver(partition: number, previous: PreviousOwner): Promise<void>;
  /** The partition may be another member's now: nothing more of it is handed out. */
  fence(partition: number, why: string): void;
  /** Nothing more of the partition is handed out: resolves, once none of its handlers runs, with what the next owner needs. */
  handOver(partition: number): Promise<PartitionHandOver>;
}

export interface NatsPartitionLeasesOptions {
  /** The leases bucket: every ordered group of the stream keeps its members and leases there. */
  kv: KV;
  /** Purges the delete markers of the bucket's stream. */
  jsm: JetStreamManager;
  group: string;
  partitions: number;
  /** How long a lease or a member's heartbeat lasts unrenewed; both are renewed at least three times as often. */
  leaseMs: number;
  /** The consumer's name, written in its records for people who look at the bucket. */
  name: string;
  logger: BrokerLogger;
}

/** A lease's value: its owner's token, or the hand-over of the owner that gave it back. */
/** How many times a hand-over is written over a renewal racing it before the partition is left to run out. */
const OWN_WRITE_ATTEMPTS = 3;

type LeaseValue = { owner: string; name: string } | { released: PartitionHandOver; name: string };

/** A key of the group as this member last saw it, and when (its own clock) it first saw that revision. */
interface Seen {
  revision: number;
  /** The value, or `undefined` for a deleted key. */
  value?: unknown;
  at: number;
}

/** A partition this member holds the lease of. */
interface Owned {
  revision: number;
  /** Until when (`performance.now()`) no other member can have taken it: the start of the last renewal that held, plus the lease. */
  validUntil: number;
  /** The owner's takeover: the partition is not given back before it ended. */
  taken: Promise<void>;
  /** Once it is being given back: nothing is handed out; the lease is renewed until the hand-over is written. */
  releasing?: Promise<void>;
  /** While the hand-over is written: a renewal would change the revision it is written over. */
  handedOver?: boolean;
}

/**
 * The leases of an ordered group's partitions on a NATS KV bucket: each partition is owned by one
 * live member of the group at a time, and the members share the partitions evenly.
 *
 * Keys (under `<group>.`, the group's name encoded as one token): `members.<token>`, one per
 * member (a new token at every start; a member that joins purges the delete markers of those gone),
 * written every third of the lease as a heartbeat; `lease.<p>`, the owner's token, or the hand-over
 * of the owner that gave it back. Every write of a lease names the revision it replaces (`create`,
 * `update`), so two members never both take it.
 *
 * Expiry without clocks: the server has no per-key expiry (2.9), and the members' clocks are not
 * compared. A member watches the group's keys and notes, on its own clock, when it first saw each
 * revision; a key whose revision it has seen unchanged for a whole lease ran out. The revision was
 * written after its owner began that renewal, so its owner's `validUntil` (that start plus the
 * lease) had passed by then: the owner has stopped handing out before another member can take the
 * partition, and the taker's write names that very revision, so a renewal in between makes it
 * fail. A member that just started has seen every key just now: it waits a lease before it takes
 * anything from an owner that stopped renewing. A member whose watch stalls sees old revisions as
 * expired, and its writes fail on the newer ones.
 *
 * Rounds (every third of the lease): renew the leases held (losing those another member took, and
 * those not renewed in time), beat, drop the records of members not seen beating for a lease, give
 * back the partitions past this member's share (ranked by token among the live members: ⌊P/n⌋, one
 * more for the first P mod n) once their handlers finished, and take free, given back or expired
 * ones up to the share. When the watch shows that the share may have changed (a member appeared or
 * went, a lease changed owner or was given back), a round runs at once without renewing or
 * beating: renewals and heartbeats are the other members' usual writes, and answering each with
 * writes of its own would make the members wake each other without end.
 *
 * What a new owner of a partition must do for order (the owner's part, told by `PreviousOwner`):
 * JetStream has no way to take a consumer's unacked messages over; the previous owner's come back
 * only once their ack wait ran out, possibly after later messages of the same key were handed to
 * the new owner. So a new owner of a partition that was owned before, or whose consumer has
 * messages out, recreates the partition's durable consumer from its first message not acked in
 * order (`by_start_sequence`: the ack floor + 1, or the consumer's own start while it acked
 * nothing): everything not acked in order is
 * delivered again, in stream order, to it alone (the delete also ends the pulls the previous owner
 * left waiting, whose messages would otherwise go nowhere). After a clean hand-over, the messages
 * up to `received` not in `unsettled` were settled by the previous owner: they are acked again
 * without handling; those in `unsettled` go with their attempts counted. After a lost lease
 * nothing is known: the messages above the ack floor are handled again (duplicates, at least once)
 * and their attempts start again at 1, but never a later message of a key before an earlier one.
 */
export class NatsPartitionLeases {
  readonly token: string = randomUUID();
  private readonly prefix: string;
  private readonly seen = new Map<string, Seen>();
  private readonly owned = new Map<number, Owned>();
  private owner?: PartitionOwner;
  private watcher?: QueuedIterator<KvEntry>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  /** Another round is due once the running one ends: something changed after it looked. */
  private again = false;
  /** The next round renews the leases and beats: the timer's rounds (and those called from outside) do. */
  private renewDue = false;
  /** Set by `leave`: partitions are only given back from then on. */
  private leaving = false;
  /** While `join` reads the group's keys. */
  private loading = true;
  /** The group's keys found deleted a lease ago and more when the member joined (by the server's clock against its own). */
  private readonly deleted = new Set<string>();

  constructor(private readonly options: NatsPartitionLeasesOptions) {
    this.prefix = `${encodeName(options.group)}.`;
  }

  /** Follows the group's keys and records this member among the live ones; rounds run when `start` is called. */
  async join(owner: PartitionOwner): Promise<void> {
    this.owner = owner;
    let initialized!: () => void;
    const loaded = new Promise<void>((resolve) => (initialized = resolve));
    const watcher = await this.options.kv.watch({ key: `${this.prefix}>`, initializedFn: () => initialized() });
    this.watcher = watcher;
    void (async () => {
      for await (const entry of watcher) this.saw(entry);
    })().catch((error: unknown) => this.options.logger.warn(`Watch of ordered group ${this.options.group} ended: ${errorMessage(error)}`));
    await loaded;
    this.loading = false;
    await this.purgeGone().catch((error: unknown) => {
      this.options.logger.warn(`Could not purge the records of members gone from ${this.options.group}: ${errorMessage(error)}`);
    });
    await this.beat();
  }

  /** Runs a round now and then every third of the lease, and one without renewals whenever the watch shows the share may have changed. */
  start(): void {
    this.timer = setInterval(() => void this.round(), Math.max(50, this.options.leaseMs / 3));
    this.timer.unref();
    void this.round();
  }

  /**
   * Whether this member may hand out messages of `partition` now (once its owner took it over:
   * the owner knows when); loses it when its lease may have run out.
   */
  holds(partition: number): boolean {
    const owned = this.owned.get(partition);
    if (!owned || owned.releasing) return false;
    if (performance.now() < owned.validUntil) return true;
    this.lose(partition, 'its lease could not be renewed in time');
    return false;
  }

  /** The partitions this member holds the lease of (those being taken over or given back too). */
  partitionsHeld(): number[] {
    return [...this.owned.keys()].toSorted((a, b) => a - b);
  }

  /** The live members' tokens, sorted: this member's and those seen beating within a lease. */
  members(): string[] {
    const now = performance.now();
    const live = new Set([this.token]);
    for (const [key, seen] of this.seen) {
      const token = this.memberToken(key);
      if (token !== undefined && seen.value !== undefined && now - seen.at < this.options.leaseMs) live.add(token);
    }
    return [...live].toSorted();
  }

  /** One round of ownership, renewing the leases and beating; a call while one runs makes another follow it. */
  round(): Promise<void> {
    this.renewDue = true;
    return this.look();
  }

  /** A round of ownership, renewing only if one is due; a call while one runs makes another follow it. */
  private look(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.roundsWhileDue().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Gives every partition back once its handlers finished (the leases renewed meanwhile) and
   * leaves the group's members, so that the others take them at once.
   */
  async leave(): Promise<void> {
    this.leaving = true;
    await this.round();
    await Promise.all([...this.owned.values()].map((owned) => owned.releasing));
    clearInterval(this.timer);
    await this.running;
    this.watcher?.stop();
    await this.options.kv.delete(this.memberKey(this.token)).catch((error: unknown) => {
      this.options.logger.warn(
        `Could not remove consumer ${this.options.name} from ordered group ${this.options.group}: ${errorMessage(error)}`,
      );
    });
  }

  /**
   * Records the settings the partition's consumer is about to be added again with, before the
   * owner deletes it: an owner that stops between the delete and the add (a crash, a timeout while
   * the cluster elects) leaves the partition without a consumer, and the settings are known
   * nowhere else. The next owner finds the record (`unfinishedRecreation`) and adds it from them.
   */
  async startRecreation(partition: number, config: Partial<ConsumerConfig>): Promise<void> {
    await this.options.kv.put(this.recreationKey(partition), JSON.stringify(config));
  }

  /** The partition's consumer is back: the record of its recreation goes. */
  async finishRecreation(partition: number): Promise<void> {
    await this.options.kv.delete(this.recreationKey(partition));
  }

  /** The settings of a recreation of the partition's consumer that an owner started and did not finish. */
  async unfinishedRecreation(partition: number): Promise<Partial<ConsumerConfig> | undefined> {
    const entry = await this.options.kv.get(this.recreationKey(partition));
    return entry?.operation === 'PUT' ? entry.json<Partial<ConsumerConfig>>() : undefined;
  }

  /** Stops the rounds and the watch without giving anything back: the leases run out (a transport closed under its consumers). */
  stop(): void {
    clearInterval(this.timer);
    this.watcher?.stop();
  }

  private async roundsWhileDue(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.roundOnce();
      } catch (error) {
        this.options.logger.warn(`Ordered group ${this.options.group} could not manage its partitions, retrying: ${errorMessage(error)}`);
      }
    } while (this.again);
  }

  private async roundOnce(): Promise<void> {
    const renewing = this.renewDue;
    this.renewDue = false;
    if (renewing) await this.renew();
    if (this.leaving) {
      for (const partition of this.owned.keys()) this.release(partition);
      return;
    }
    if (renewing) await this.beat();
    const members = this.members();
    await this.forgetDead();
    const share = this.share(members);
    const kept = [...this.owned].filter(([, owned]) => !owned.releasing).map(([partition]) => partition);
    for (const partition of kept.slice(share)) this.release(partition);
    await this.acquire(share - Math.min(kept.length, share), members);
  }

  /** This member's share of the partitions: an even split among the live members, ranked by token. */
  private share(members: readonly string[]): number {
    const { partitions } = this.options;
    const rank = Math.max(0, members.indexOf(this.token));
    return Math.floor(partitions / members.length) + (rank < partitions % members.length ? 1 : 0);
  }

  /** Renews every lease held; loses those another member took, and those not renewed in time. */
  private async renew(): Promise<void> {
    await Promise.all(
      [...this.owned].map(async ([partition, owned]) => {
        if (owned.handedOver) return;
        const started = performance.now();
        try {
          owned.revision = await this.write(this.leaseKey(partition), this.held(), owned.revision);
          owned.validUntil = started + this.options.leaseMs;
        } catch (error) {
          if (isWrongRevision(error)) {
            // A renewal whose answer was lost went through: the lease is still this member's.
            const current = await this.options.kv.get(this.leaseKey(partition));
            const value = current?.operation === 'PUT' ? current.json<LeaseValue>() : undefined;
            if (current && value && 'owner' in value && value.owner === this.token) owned.revision = current.revision;
            else this.lose(partition, 'another consumer holds its lease');
            return;
          }
          this.options.logger.warn(
            `Could not renew the lease of partition ${partition} of ordered group ${this.options.group}: ${errorMessage(error)}`,
          );
          if (performance.now() >= owned.validUntil) this.lose(partition, 'its lease could not be renewed in time');
        }
      }),
    );
  }

  /** Records this member alive for a lease more. */
  private async beat(): Promise<void> {
    const key = this.memberKey(this.token);
    const value = { name: this.options.name };
    const revision = await this.options.kv.put(key, JSON.stringify(value));
    this.note(key, revision, value);
  }

  /**
   * Removes from the bucket the delete markers of the group's keys written a lease ago and more:
   * each start of a member has a record of its own, deleted when it leaves or is forgotten, whose
   * marker would otherwise stay for good. The members watching then saw the delete long ago (one
   * that did not takes the record for a crashed member's, gone after a lease).
   */
  private async purgeGone(): Promise<void> {
    if (this.deleted.size === 0) return;
    const { bucket, streamInfo } = await this.options.kv.status();
    for (const key of this.deleted) {
      await this.options.jsm.streams.purge(streamInfo.config.name, { filter: `$KV.${bucket}.${key}`, keep: 0 });
    }
    this.deleted.clear();
  }

  /** Deletes the records of members not seen beating for a lease (they crashed); another member may do so at the same time. */
  private async forgetDead(): Promise<void> {
    const now = performance.now();
    for (const [key, seen] of this.seen) {
      const token = this.memberToken(key);
      if (token === undefined || token === this.token || seen.value === undefined || now - seen.at < this.options.leaseMs) continue;
      await this.options.kv.delete(key, { previousSeq: seen.revision }).catch(() => undefined);
    }
  }

  /** Takes up to `wanted` partitions that are free, given back or expired, starting at this member's place among the live ones. */
  private async acquire(wanted: number, members: readonly string[]): Promise<void> {
    const { partitions, leaseMs } = this.options;
    const start = Math.floor((Math.max(0, members.indexOf(this.token)) * partitions) / members.length);
    for (let step = 0; step < partitions && wanted > 0 && !this.leaving; step++) {
      const partition = (start + step) % partitions;
      if (this.owned.has(partition)) continue;
      const key = this.leaseKey(partition);
      const seen = this.seen.get(key);
      const previous = this.takeable(seen);
      if (previous === undefined) continue;
      const started = performance.now();
      let revision: number;
      try {
        revision =
          seen?.value === undefined
            ? await this.options.kv.create(key, JSON.stringify(this.held()))
            : await this.write(key, this.held(), seen.revision);
      } catch (error) {
        if (isWrongRevision(error)) continue;
        throw error;
      }
      wanted--;
      const owned: Owned = { revision, validUntil: started + leaseMs, taken: Promise.resolve() };
      this.owned.set(partition, owned);
      owned.taken = this.takeOver(partition, owned, previous);
    }
  }

  /** Lets the owner take the partition over, while the rounds go on renewing the leases. */
  private async takeOver(partition: number, owned: Owned, previous: PreviousOwner): Promise<void> {
    try {
      await this.owner?.takeOver(partition, previous);
    } catch (error) {
      // Not renewed, the lease runs out; this member or another takes the partition again, as lost.
      if (this.owned.get(partition) === owned) this.owned.delete(partition);
      this.options.logger.warn(`Could not take partition ${partition} of ordered group ${this.options.group} over: ${errorMessage(error)}`);
    }
  }

  /** How the partition's last owner left it, when this member may take it now. */
  private takeable(seen: Seen | undefined): PreviousOwner | undefined {
    if (seen?.value === undefined) return { left: 'never' };
    const value = seen.value as LeaseValue;
    if ('released' in value) return { left: 'released', handOver: value.released };
    if (value.owner === this.token || performance.now() - seen.at >= this.options.leaseMs) return { left: 'lost' };
    return undefined;
  }

  /** Starts giving the partition back: once its takeover and its handlers finished, the hand-over is written in its lease. */
  private release(partition: number): void {
    const owned = this.owned.get(partition);
    if (!owned || owned.releasing) return;
    const owner = this.owner;
    owned.releasing = (async () => {
      await owned.taken;
      if (this.owned.get(partition) !== owned) return;
      try {
        const handOver = (await owner?.handOver(partition)) ?? { received: 0, unsettled: {} };
        if (this.owned.get(partition) !== owned) return;
        owned.handedOver = true;
        await this.writeOwn(partition, { released: handOver, name: this.options.name }, owned.revision);
        this.owned.delete(partition);
      } catch (error) {
        // Not given back: the lease runs out, and the next owner takes the partition as lost.
        this.options.logger.warn(
          `Could not give back partition ${partition} of ordered group ${this.options.group}: ${errorMessage(error)}`,
        );
        if (this.owned.get(partition) === owned) this.owned.delete(partition);
      }
    })();
  }

  /**
   * Writes `value` in the lease of `partition`, held by this member at `revision`: a renewal that
   * was under way is written over, so long as the lease is still this member's.
   */
  private async writeOwn(partition: number, value: LeaseValue, revision: number): Promise<void> {
    const key = this.leaseKey(partition);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.write(key, value, revision);
        return;
      } catch (error) {
        if (!isWrongRevision(error) || attempt >= OWN_WRITE_ATTEMPTS) throw error;
        const current = await this.options.kv.get(key);
        const held = current?.operation === 'PUT' ? current.json<LeaseValue>() : undefined;
        if (!current || !held || !('owner' in held) || held.owner !== this.token) throw error;
        revision = current.revision;
      }
    }
  }

  /** Stops handing out the partition: another member may own it now. */
  private lose(partition: number, why: string): void {
    if (!this.owned.delete(partition)) return;
    this.owner?.fence(partition, why);
    this.options.logger.warn(`Consumer ${this.options.name} of ordered group ${this.options.group} lost partition ${partition}: ${why}`);
  }

  private held(): LeaseValue {
    return { owner: this.token, name: this.options.name };
  }

  /** Writes `value` over `revision`; gives the new revision. */
  private async write(key: string, value: LeaseValue, revision: number): Promise<number> {
    const written = await this.options.kv.update(key, JSON.stringify(value), revision);
    this.note(key, written, value);
    return written;
  }

  private saw(entry: KvEntry): void {
    const known = this.seen.get(entry.key);
    if (known && known.revision >= entry.revision) return;
    let value: unknown;
    if (entry.operation !== 'PUT' && this.loading && Date.now() - entry.created.getTime() >= this.options.leaseMs)
      this.deleted.add(entry.key);
    if (entry.operation === 'PUT') {
      try {
        value = entry.json<unknown>();
      } catch {
        return;
      }
    }
    this.note(entry.key, entry.revision, value);
    if (this.timer && this.sharesChanged(entry.key, known, value)) void this.look();
  }

  /**
   * Whether a key's new value may change who holds what: another member appeared (or came back
   * after it was taken for dead) or went, or a lease changed owner or was given back. Not a
   * member's heartbeat, nor a renewal, nor this member's own writes.
   */
  private sharesChanged(key: string, known: Seen | undefined, value: unknown): boolean {
    if (key === this.memberKey(this.token)) return false;
    const before = known && performance.now() - known.at < this.options.leaseMs ? known.value : undefined;
    if (this.memberToken(key) !== undefined) return (before === undefined) !== (value === undefined);
    const owner = (value as { owner?: string } | undefined)?.owner;
    if (owner === this.token) return false;
    return owner === undefined || owner !== (before as { owner?: string } | undefined)?.owner;
  }

  private note(key: string, revision: number, value: unknown): void {
    const known = this.seen.get(key);
    if (known && known.revision >= revision) return;
    this.seen.set(key, { revision, value, at: performance.now() });
  }

  private memberKey(token: string): string {
    return `${this.prefix}members.${token}`;
  }

  private memberToken(key: string): string | undefined {
    const members = `${this.prefix}members.`;
    return key.startsWith(members) ? key.slice(members.length) : undefined;
  }

  private leaseKey(partition: number): string {
    return `${this.prefix}lease.${partition}`;
  }

  private recreationKey(partition: number): string {
    return `${this.prefix}recreation.${partition}`;
  }
}

function isWrongRevision(error: unknown): boolean {
  return (error as { api_error?: { err_code?: number } } | undefined)?.api_error?.err_code === WRONG_REVISION;
}
