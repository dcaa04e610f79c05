import { randomUUID } from 'node:crypto';
import { sleep, withTimeout } from '../../core/async-primitives.js';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { partitionKeyOf } from '../../core/partition-key.js';
import type { HandedOut } from '../group-consumer.js';
import { PartitionKeyTurns } from '../partition-key-turns.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import { RedisGroupConsumer, type PartitionCursor, type PartitionEntry, type RedisConsumerContext } from './redis-group-consumer.js';
import {
  ACQUIRE_SCRIPT,
  MEMBERS_SCRIPT,
  ORDERED_READ_SCRIPT,
  RELEASE_SCRIPT,
  RENEW_SCRIPT,
  TAKE_OVER_SCRIPT,
} from './redis-ordered-scripts.js';
import { RedisScript } from './redis-script-runner.js';
import type { RedisClient } from './redis-client.js';
import type { StreamEntry } from './redis-stream-entry.js';
import { compareIds } from './redis-stream-ids.js';

const MEMBERS = new RedisScript(MEMBERS_SCRIPT);
const ACQUIRE = new RedisScript(ACQUIRE_SCRIPT);
const RENEW = new RedisScript(RENEW_SCRIPT);
const RELEASE = new RedisScript(RELEASE_SCRIPT);
const ORDERED_READ = new RedisScript(ORDERED_READ_SCRIPT);
const TAKE_OVER = new RedisScript(TAKE_OVER_SCRIPT);

/** Pending entries a takeover takes per script call. */
const TAKE_OVER_PAGE = 100;

type Held = HandedOut<PartitionEntry>;

/** A partition the consumer holds the lease of. */
interface OwnedPartition {
  /** Until when no other consumer can have taken it: the start of the last renewal that held, plus the lease. */
  validUntil: number;
  /** While its pending entries are taken over: nothing new is read before them. */
  takingOver?: { crashed: boolean };
  /** Being given back: nothing more is handed out; given back once no handler of it runs. */
  releasing: boolean;
  /** Holders waiting for a retry that were set aside (closing, giving back): their next attempt is counted when it is handed over. */
  setAside: Held[];
}

/**
 * A consumer of an ordered group: the group's consumers share the partitions, each owned by one
 * of them at a time under a lease (`<base>:lease:<group>`, `ackTimeoutMs`, renewed at least three
 * times as often); each aims at its share of the partitions among the live consumers
 * (`<prefix>:members:<group>`) and gives back the extra ones once their handlers finished. An
 * owner reads only its partitions, with the lease checked in the read's script, and hands out one
 * entry per key at a time in entry order (`PartitionKeyTurns`); a new owner first takes the
 * partition's pending entries from whoever held them. An owner that could not renew a lease stops
 * handing out that partition's entries before the lease can have run out.
 */
export class RedisOrderedGroupConsumer extends RedisGroupConsumer {
  private readonly token: string;
  private readonly turns = new PartitionKeyTurns<PartitionEntry>({
    partition: (entry) => entry.partition,
    compare: (a, b) => compareIds(a.id, b.id),
  });
  private readonly owned = new Map<number, OwnedPartition>();
  private timer?: NodeJS.Timeout;
  private managing?: Promise<void>;
  /** Another round is due once the running one ends: something changed after it looked. */
  private again = false;
  /**
   * Tells the group's consumers at once that one joined, gave a partition back or left, on the
   * channel named like the members key: each then runs a round of ownership instead of waiting for
   * its next one.
   */
  private readonly signals: RedisClient;
  /** Set once `release` began, or the consumer left: no more rounds of ownership. */
  private leaving = false;
  private left = false;

  constructor(context: RedisConsumerContext, spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl) {
    super(context, spec, onDelivery, flow);
    this.token = `${spec.consumerName}#${randomUUID()}`;
    this.signals = context.client.duplicate();
    this.signals.on('error', () => undefined);
    this.signals.on('message', () => void this.manage());
  }

  /** Records the consumer among the group's live ones before it starts: what a consumer that would not order the group checks. */
  async join(): Promise<void> {
    await this.signals.subscribe(this.channel);
    await this.beat();
    await this.signal();
  }

  override start(): void {
    super.start();
    // As often as an abandoned delivery is looked for (blockMs), and often enough to renew the leases.
    this.timer = setInterval(() => void this.manage(), Math.max(50, Math.min(this.context.blockMs, this.context.ackTimeoutMs / 3)));
    this.timer.unref();
    void this.manage();
  }

  /** Stops reading; each partition is given back once no handler of it runs (the rest at `release`). */
  override async close(): Promise<void> {
    await super.close();
    await this.manage();
  }

  /** Gives every partition back, the attempts of its handlers still running counted, and leaves the group. */
  override async release(): Promise<void> {
    this.leaving = true;
    clearInterval(this.timer);
    await super.release();
    await this.managing;
    const handedOver = Promise.all([...this.owned.keys()].map((partition) => this.handOver(partition, true))).then(() => this.leave());
    if (!(await withTimeout(handedOver, this.context.ackTimeoutMs))) {
      this.context.logger.warn(
        `Could not give back the partitions of ordered group ${this.spec.group} in time; they are taken over when their leases end`,
      );
    }
  }

  protected override interrupt(): void {
    super.interrupt();
    this.signals.disconnect();
    for (const [partition, state] of this.owned) state.setAside.push(...this.turns.dropPartition(partition));
  }

  protected override readable(partition: number): boolean {
    const state = this.owned.get(partition);
    return state !== undefined && !state.releasing && state.takingOver === undefined;
  }

  /** Its reads check the lease in a script: it waits with an XREAD, then reads. */
  protected override blocksOnReads(): boolean {
    return false;
  }

  /** Parked entries were taken from the stream: they count towards what the consumer has room for. */
  protected override readLimit(count: number): number {
    return count - this.turns.parked;
  }

  protected override async readEntries(cursor: PartitionCursor, count: number): Promise<[string, StreamEntry[]] | undefined> {
    const { keys } = cursor;
    const { group, consumerName } = this.spec;
    const answer = (await ORDERED_READ.run(
      this.context.client,
      [keys.stream, keys.delivered(group), keys.lease(group)],
      [group, consumerName, count, Date.now(), this.token],
    )) as [string, StreamEntry[]] | null;
    if (answer) return answer;
    this.fence(keys.partition, 'another consumer holds its lease');
    return undefined;
  }

  /** Hands out the first entry of each key; parks the later ones behind it; drops what the consumer may no longer hand out. */
  protected override async deliver(handedOut: readonly Held[]): Promise<void> {
    const going: Held[] = [];
    const recounted: Held[] = [];
    for (const held of handedOut) {
      const { partition } = held.received.message;
      if (!this.handsOut(partition)) continue;
      const admission = this.turns.admit(held, partitionKeyOf(held.event));
      if (admission === 'parked' || admission === 'known') continue;
      const takingOver = this.owned.get(partition)?.takingOver;
      // Taken over without counting a delivery: a retry due is an attempt more, and so is the first entry of
      // each key after a crash (it may have been running). Entries behind it were parked, never attempted.
      if (takingOver && (admission === 'retry' || takingOver.crashed)) {
        held.received = { ...held.received, attempt: held.received.attempt + 1 };
        recounted.push(held);
      }
      going.push(held);
    }
    if (recounted.length > 0) await this.countAttempts(recounted.map(({ received }) => [received.message, received.attempt]));
    for (const held of going) this.handOut(held);
  }

  protected override ack(received: ReceivedMessage<PartitionEntry>): Promise<void> {
    return this.settling(received, super.ack(received));
  }

  protected override deadLetter(received: ReceivedMessage<PartitionEntry>, error: string, attempts: number): Promise<void> {
    return this.settling(received, super.deadLetter(received, error, attempts));
  }

  /**
   * The key goes on once the entry's settle is written: a crash right after cannot hand its next
   * entry out before it. A settle that failed is looked up: it may have been written all the same
   * (the connection broke after Redis ran it).
   */
  private async settling(received: ReceivedMessage<PartitionEntry>, written: Promise<void>): Promise<void> {
    try {
      await written;
    } catch (error) {
      this.turns.retrying(received.key);
      void this.nextIfWritten(received);
      throw error;
    }
    this.next(received);
  }

  /**
   * After a failed settle, asks Redis (again, while it does not answer and the consumer owns the
   * partition) whether the entry is still pending in the group: the key goes on when it is not;
   * while it is, it is claimed again in its key's turn, as a retry.
   */
  private async nextIfWritten(received: ReceivedMessage<PartitionEntry>): Promise<void> {
    const { partition, id } = received.message;
    const { stream } = this.cursors[partition].keys;
    for (let pauseMs = 50; this.owned.has(partition) && !this.abort.signal.aborted; pauseMs = Math.min(2 * pauseMs, this.context.blockMs)) {
      try {
        const pending = (await this.context.client.xpending(stream, this.spec.group, id, id, 1)) as unknown[];
        if (pending.length === 0) this.next(received);
        return;
      } catch {
        await sleep(pauseMs, this.abort.signal);
      }
    }
  }

  /** The key stays the entry's until its retry is settled. */
  protected override retryLater(received: ReceivedMessage<PartitionEntry>, event: BrokerEvent, delayMs: number): Promise<void> {
    if (this.owned.has(received.message.partition)) this.turns.retrying(received.key);
    else this.turns.settled(received.key);
    return super.retryLater(received, event, delayMs);
  }

  /** Only the owner's: an entry of a partition the consumer lost is the new owner's. */
  protected override renewLeases(entries: readonly PartitionEntry[]): Promise<void> {
    return super.renewLeases(entries.filter(({ partition }) => this.owned.has(partition)));
  }

  protected override async giveBack(): Promise<void> {
    // The partitions are handed over whole, with the attempts of what ran counted: `release`.
  }

  /** The key of a settled entry goes on with its next entry. */
  private next(received: ReceivedMessage<PartitionEntry>): void {
    const { partition } = received.message;
    const allowed = this.handsOut(partition);
    const following = this.turns.settled(received.key);
    if (following && allowed) {
      this.handOut(following);
      this.wakeUp();
    }
    const state = this.owned.get(partition);
    if (state?.releasing && this.turns.handledIn(partition).length === 0) void this.manage();
  }

  /** Whether the consumer may hand out an entry of the partition now; fences it when its lease may have run out. */
  private handsOut(partition: number): boolean {
    const state = this.owned.get(partition);
    if (!state || state.releasing || this.abort.signal.aborted) return false;
    if (Date.now() < state.validUntil) return true;
    this.fence(partition, 'its lease could not be renewed in time');
    return false;
  }

  /** Stops handing out the partition's entries: another consumer may own it now. */
  private fence(partition: number, why: string): void {
    if (!this.owned.delete(partition)) return;
    this.turns.dropPartition(partition);
    this.context.logger.warn(`Consumer ${this.spec.consumerName} of ordered group ${this.spec.group} lost partition ${partition}: ${why}`);
  }

  /** One round of ownership: renew, heartbeat, give back the extra partitions, take free ones up to the share. */
  private manage(): Promise<void> {
    if (this.managing) {
      this.again = true;
      return this.managing;
    }
    this.managing = this.manageWhileDue().finally(() => (this.managing = undefined));
    return this.managing;
  }

  private async manageWhileDue(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.manageOnce();
      } catch (error) {
        this.context.logger.warn(`Ordered group ${this.spec.group} could not manage its partitions, retrying: ${errorMessage(error)}`);
      }
    } while (this.again && !this.leaving && !this.left);
  }

  private get channel(): string {
    return this.context.members(this.spec.group);
  }

  /** Tells the group's other consumers to look at their share now; they would at their next round anyway. */
  private async signal(): Promise<void> {
    try {
      await this.context.client.publish(this.channel, this.token);
    } catch (error) {
      this.context.logger.warn(`Could not signal the consumers of ordered group ${this.spec.group}: ${errorMessage(error)}`);
    }
  }

  private async manageOnce(): Promise<void> {
    if (this.leaving || this.left) return;
    await this.renew();
    if (this.abort.signal.aborted) {
      await Promise.all(
        [...this.owned.keys()]
          .filter((partition) => this.turns.handledIn(partition).length === 0)
          .map((partition) => this.handOver(partition)),
      );
      if (this.owned.size === 0) await this.leave();
      return;
    }
    const members = await this.beat();
    await this.renewParked();
    const share = this.share(members);
    const kept = [...this.owned].filter(([, state]) => !state.releasing).map(([partition]) => partition);
    for (const partition of kept.slice(share)) {
      const state = this.owned.get(partition);
      if (!state) continue;
      state.releasing = true;
      state.setAside.push(...this.turns.dropPartition(partition));
    }
    await Promise.all(
      [...this.owned]
        .filter(([partition, state]) => state.releasing && this.turns.handledIn(partition).length === 0)
        .map(([partition]) => this.handOver(partition)),
    );
    await this.acquire(share - Math.min(kept.length, share), members);
  }

  /** This consumer's share of the partitions: an even split among the live consumers, ranked by token. */
  private share(members: readonly string[]): number {
    const count = this.cursors.length;
    const rank = Math.max(0, members.indexOf(this.token));
    const live = Math.max(1, members.length);
    return Math.floor(count / live) + (rank < count % live ? 1 : 0);
  }

  /** Renews every lease held; loses the partitions whose lease another consumer holds now. */
  private async renew(): Promise<void> {
    const { client, ackTimeoutMs } = this.context;
    await Promise.all(
      [...this.owned].map(async ([partition, state]) => {
        const started = Date.now();
        try {
          const held = await RENEW.run(client, [this.cursors[partition].keys.lease(this.spec.group)], [this.token, ackTimeoutMs]);
          if (held === 1) state.validUntil = started + ackTimeoutMs;
          else this.fence(partition, 'another consumer holds its lease');
        } catch (error) {
          this.context.logger.warn(
            `Could not renew the lease of partition ${partition} of ordered group ${this.spec.group}: ${errorMessage(error)}`,
          );
          if (Date.now() >= state.validUntil) this.fence(partition, 'its lease could not be renewed in time');
        }
      }),
    );
  }

  /** Keeps the parked entries from being claimed as abandoned (without counting a delivery). */
  private async renewParked(): Promise<void> {
    const parked = this.turns.parkedEntries();
    if (parked.length > 0) await super.renewLeases(parked);
  }

  /** Records the consumer alive for a lease more; gives the live consumers' tokens, sorted. */
  private async beat(): Promise<string[]> {
    const now = Date.now();
    const members = (await MEMBERS.run(
      this.context.client,
      [this.context.members(this.spec.group)],
      [this.token, now, now + this.context.ackTimeoutMs],
    )) as string[];
    return members.toSorted();
  }

  /** Takes up to `wanted` partitions whose lease is free, starting at this consumer's place among the live ones. */
  private async acquire(wanted: number, members: readonly string[]): Promise<void> {
    const count = this.cursors.length;
    const start = Math.floor((Math.max(0, members.indexOf(this.token)) * count) / Math.max(1, members.length));
    for (let step = 0; step < count && wanted > 0 && !this.abort.signal.aborted; step++) {
      const partition = (start + step) % count;
      if (this.owned.has(partition)) continue;
      const started = Date.now();
      const { ackTimeoutMs, client } = this.context;
      const previous = (await ACQUIRE.run(client, [this.cursors[partition].keys.lease(this.spec.group)], [this.token, ackTimeoutMs])) as
        string | null;
      if (previous === null) continue;
      wanted--;
      const state: OwnedPartition = {
        validUntil: started + ackTimeoutMs,
        takingOver: { crashed: previous !== 'released' },
        releasing: false,
        setAside: [],
      };
      this.owned.set(partition, state);
      try {
        await this.takeOver(partition);
      } finally {
        state.takingOver = undefined;
        this.wakeUp();
      }
    }
  }

  /**
   * Takes the group's pending entries of the partition from whoever held them, all of them before
   * handing any out (so that the first of each key is known), and hands them out per key before
   * anything newer.
   */
  private async takeOver(partition: number): Promise<void> {
    const { keys } = this.cursors[partition];
    const { group, consumerName } = this.spec;
    const taken: StreamEntry[] = [];
    const attempts: number[] = [];
    let from = '0-0';
    do {
      const [next, entries, counts] = (await TAKE_OVER.run(
        this.context.client,
        [keys.stream],
        [group, consumerName, from, TAKE_OVER_PAGE],
      )) as [string, StreamEntry[], number[]];
      taken.push(...entries);
      attempts.push(...counts.map(Number));
      from = next;
    } while (from !== '0-0');
    if (this.owned.has(partition)) await this.dispatch(this.received(keys, taken, attempts));
  }

  /**
   * Gives the partition back once none of its handlers runs (or, `force`d, with those still
   * running abandoned): the next attempt of each entry that ran is counted in its delivery count,
   * so that the next owner takes the counts as they are.
   */
  private async handOver(partition: number, force = false): Promise<void> {
    const state = this.owned.get(partition);
    if (!state) return;
    const running = this.turns.handledIn(partition);
    if (running.length > 0 && !force) return;
    const attempted = [...state.setAside, ...this.turns.dropPartition(partition), ...running];
    state.setAside = [];
    await this.countAttempts(attempted.map(({ received }) => [received.message, received.attempt + 1]));
    await RELEASE.run(this.context.client, [this.cursors[partition].keys.lease(this.spec.group)], [this.token]);
    this.owned.delete(partition);
    for (const { received } of running) this.turns.settled(received.key);
    await this.signal();
  }

  /** Sets the delivery counts of pending entries to the attempts given. */
  private async countAttempts(attempts: readonly [PartitionEntry, number][]): Promise<void> {
    if (attempts.length === 0) return;
    const { group, consumerName } = this.spec;
    const pipelines = new Map<number, ReturnType<RedisConsumerContext['client']['pipeline']>>();
    for (const [{ partition, id }, attempt] of attempts) {
      let pipeline = pipelines.get(partition);
      if (!pipeline) pipelines.set(partition, (pipeline = this.context.client.pipeline()));
      pipeline.xclaim(this.cursors[partition].keys.stream, group, consumerName, 0, id, 'RETRYCOUNT', attempt, 'JUSTID');
    }
    await Promise.all([...pipelines.values()].map((pipeline) => pipeline.exec()));
  }

  /** Leaves the group's live consumers, so that the others share the partitions at once. */
  private async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    clearInterval(this.timer);
    this.signals.disconnect();
    await this.context.client.zrem(this.context.members(this.spec.group), this.token);
    await this.signal();
  }
}
