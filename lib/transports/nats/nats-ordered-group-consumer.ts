import { DeliverPolicy, type ConsumerConfig, type ConsumerInfo, type JsMsg, type KV } from 'nats';
import { Signal, withTimeout } from '../../core/async-primitives.js';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { partitionKeyOf } from '../../core/partition-key.js';
import type { HandedOut } from '../group-consumer.js';
import { PartitionKeyTurns } from '../partition-key-turns.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import { isNotFound } from './nats-errors.js';
import { NatsGroupConsumer, type NatsConsumerContext } from './nats-group-consumer.js';
import { waitingForLeader, type LeaderWait } from './nats-leader-election.js';
import { NatsPartitionLeases, type PartitionHandOver, type PartitionOwner, type PreviousOwner } from './nats-partition-leases.js';

/** How many times a takeover deletes a consumer another instance added between its delete and its add. */
const RECREATE_ATTEMPTS = 3;

export interface NatsOrderedConsumerContext extends NatsConsumerContext {
  /** The leases bucket of the stream's ordered groups. */
  leases: KV;
  /** The group's durable consumer on every partition's stream. */
  durable: string;
  /** How the consumer's requests wait for its leader (a consumer added again on a cluster elects one). */
  setupWait: LeaderWait;
  /** Per partition, the first stream sequence routed to the group (0: not recorded). */
  startSeqs: readonly number[];
}

/** What the consumer keeps of a partition it owns. */
interface OwnedPartition {
  /** The highest sequence received from the partition's consumer, or settled by a previous owner. */
  received: number;
  /** The sequences received or carried over and not settled, with the attempts each had before its current delivery. */
  unsettled: Map<number, number>;
  /** Attempts previous owners made, by sequence: the recreated consumer counts its deliveries from 1 again. */
  carried: Map<number, number>;
  /** From a clean hand-over: the messages up to it not in `carried` were settled by the previous owner. */
  settledUpTo: number;
}

/** A holder whose handler failed, kept unacked (alive with `working()`) until its retry is due. */
interface RetryWait {
  /** The message, for its next attempt. */
  held: HandedOut<JsMsg>;
  partition: number;
  /** Pending until the retry is due; then the next receive hands it out. */
  timer?: NodeJS.Timeout;
}

/**
 * A consumer of an ordered group: the group's consumers share the partitions, each owned by one
 * of them at a time under a lease (`NatsPartitionLeases`); a consumer pulls only from the
 * partitions it owns and hands out one message per key at a time in stream order
 * (`PartitionKeyTurns`), parking a key's later ones (delivered, unacked, kept alive with
 * `working()`) until the one before is acked or dead-lettered. A retry stays in the consumer:
 * the message is kept unacked and alive, and handed out again once its delay passed, its attempts
 * counted here (a delayed nak would come back only with a pull, which the parked messages may
 * hold back; and a late nak could land on the consumer the partition's next owner recreated).
 *
 * Taking a partition over: JetStream cannot hand a consumer's unacked messages to another
 * subscriber, and the previous owner's would come back only after their ack wait, behind later
 * messages of their keys. So a new owner recreates the partition's durable consumer from its ack
 * floor, or from the consumer's own start while nothing was acked (unless nobody owned it and
 * nothing is out): every message not acked in order comes again, in stream order, to it alone, and
 * the previous owner's pulls still waiting end with the old consumer. The owner's lease makes it
 * the authority on the consumer: one another instance added meanwhile is deleted and added again. After a clean hand-over the new owner acks again, without handling, what the previous
 * owner settled (up to what it received, except what it left unsettled), and counts the attempts
 * it made; after a lost lease it handles everything above the ack floor again, attempts counted
 * from 1. Giving a partition back: nothing more is pulled or handed out, the running handlers
 * finish (a retry they ask for is left to the next owner), and what was received and not settled
 * goes in the hand-over. Once the consumer is released (at shutdown, after the broker stopped
 * waiting for its handlers), the partitions are handed over at once, the handlers still running
 * among what is not settled.
 */
export class NatsOrderedGroupConsumer extends NatsGroupConsumer implements PartitionOwner {
  private readonly turns = new PartitionKeyTurns<JsMsg>({
    partition: (message) => this.partitionOf(message),
    compare: (a, b) => a.seq - b.seq,
  });
  private readonly leases: NatsPartitionLeases;
  private readonly owned = new Map<number, OwnedPartition>();
  /** Notified when a handler of an owned partition settles: a partition given back waits for its handlers. */
  private readonly settling = new Signal();
  private parkedTimer?: NodeJS.Timeout;
  /** The holders waiting for their retry, by received key. */
  private readonly retries = new Map<string, RetryWait>();
  /** The handed-out messages not settled yet, by received key, with their partition: a partition given back waits for them. */
  private readonly handling = new Map<string, number>();
  /** Released or abandoned: a partition is handed over without waiting for handlers. */
  private stopped = false;

  constructor(
    private readonly ordered: NatsOrderedConsumerContext,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
  ) {
    super(ordered, spec, onDelivery, flow);
    this.leases = new NatsPartitionLeases({
      kv: ordered.leases,
      jsm: ordered.jsm,
      group: spec.group,
      partitions: ordered.streams.length,
      leaseMs: ordered.ackWaitMs,
      name: spec.consumerName,
      logger: ordered.logger,
    });
  }

  /** Records the consumer among the group's live ones before it starts. */
  async join(): Promise<void> {
    await this.leases.join(this);
  }

  override start(): void {
    super.start();
    this.leases.start();
    // The parked messages and the retries waiting are not handed out: the heartbeat of handed-out ones does not keep them.
    this.parkedTimer = setInterval(
      () => {
        for (const message of this.turns.parkedEntries()) message.working();
        for (const { held } of this.retries.values()) held.received.message.working();
      },
      Math.max(50, this.ordered.ackWaitMs / 3),
    );
    this.parkedTimer.unref();
  }

  /**
   * Gives every partition back and leaves the group. The handlers still running were abandoned by
   * the broker: they go in the hand-over as not settled, and settling them later has no effect.
   */
  override async release(): Promise<void> {
    this.stopHandingOut();
    await super.release();
    if (!(await withTimeout(this.leases.leave(), this.ordered.ackWaitMs))) {
      this.leases.stop();
      this.ordered.logger.warn(
        `Could not give back the partitions of ordered group ${this.spec.group} in time; they are taken over when their leases end`,
      );
    }
  }

  /** The transport closed without the consumer being released: its leases run out, for the group's other consumers to take. */
  abandon(): void {
    this.stopHandingOut();
    this.leases.stop();
  }

  async takeOver(partition: number, previous: PreviousOwner): Promise<void> {
    const { jsm, streams, durable, setupWait } = this.ordered;
    const stream = streams[partition];
    // A previous owner deleted the consumer and stopped before it was added again (or a starting
    // instance added it anew meanwhile): added again from where it meant to.
    const unfinished = await this.leases.unfinishedRecreation(partition);
    let filter: string;
    if (unfinished) {
      await this.recreate(partition, stream, unfinished);
      filter = unfinished.filter_subject ?? '';
    } else {
      const info = await waitingForLeader(setupWait, () => jsm.consumers.info(stream, durable));
      // A consumer that never acked has its ack floor at 0, whatever it delivered: only what is out tells.
      const out = info.num_ack_pending > 0 || info.num_redelivered > 0;
      if (previous.left !== 'never' || out) await this.recreate(partition, stream, this.firstUnacked(partition, info));
      filter = info.config.filter_subject ?? '';
    }
    const handOver = previous.left === 'released' ? previous.handOver : undefined;
    const carried = new Map(Object.entries(handOver?.unsettled ?? {}).map(([seq, attempts]) => [Number(seq), attempts]));
    const settledUpTo = handOver?.received ?? 0;
    // Subscribed before it is readable: a pull is asked only once the subscription is there.
    await waitingForLeader(setupWait, () => this.subscribe(partition, durable, filter));
    this.owned.set(partition, { received: settledUpTo, unsettled: new Map(carried), carried, settledUpTo });
    this.wakeUp();
  }

  fence(partition: number): void {
    this.owned.delete(partition);
    this.unsubscribe(partition);
    this.turns.dropPartition(partition);
    this.dropRetries(partition);
  }

  /** Waits for the partition's running handlers, unless the consumer stops or loses the partition meanwhile. */
  async handOver(partition: number): Promise<PartitionHandOver> {
    this.unsubscribe(partition);
    this.turns.dropPartition(partition);
    this.dropRetries(partition);
    while (!this.stopped && this.owned.has(partition) && [...this.handling.values()].includes(partition)) {
      await this.settling.wait(undefined, 100);
    }
    this.turns.dropPartition(partition);
    const owned = this.owned.get(partition);
    this.owned.delete(partition);
    if (!owned) return { received: 0, unsettled: {} };
    return { received: owned.received, unsettled: Object.fromEntries(owned.unsettled) };
  }

  protected override readable(partition: number): boolean {
    return this.owned.has(partition) && this.leases.holds(partition);
  }

  /** Retries that are due go first; parked messages were pulled: they count towards what the consumer has room for. */
  protected override async receive(count: number, signal: AbortSignal): Promise<void> {
    if (await this.retryDue(count)) return;
    const room = count - this.turns.parked;
    if (room > 0) await super.receive(room, signal);
    else await this.settling.wait(signal, this.ordered.fetchExpiresMs);
  }

  /** Acks again what the previous owner settled; counts the attempts it made; keeps what is received and not settled. */
  protected override async dispatch(messages: readonly ReceivedMessage<JsMsg>[]): Promise<void> {
    const kept: ReceivedMessage<JsMsg>[] = [];
    for (const received of messages) {
      const { message } = received;
      const owned = this.owned.get(this.partitionOf(message));
      // Not this consumer's any more: the partition's next owner gets it again.
      if (!owned) continue;
      const { seq } = message;
      owned.received = Math.max(owned.received, seq);
      if (seq <= owned.settledUpTo && !owned.carried.has(seq)) {
        message.ack();
        continue;
      }
      const attempt = message.info.redeliveryCount + (owned.carried.get(seq) ?? 0);
      if (!owned.unsettled.has(seq)) owned.unsettled.set(seq, attempt - 1);
      kept.push(attempt === received.attempt ? received : { ...received, attempt });
    }
    if (kept.length > 0) await super.dispatch(kept);
  }

  /** Hands out the first message of each key; parks the later ones behind it; drops what the consumer may no longer hand out. */
  protected override async deliver(handedOut: readonly HandedOut<JsMsg>[]): Promise<void> {
    for (const held of handedOut) {
      if (this.abort.signal.aborted || !this.readable(this.partitionOf(held.received.message))) continue;
      const admission = this.turns.admit(held, partitionKeyOf(held.event));
      if (admission === 'first' || admission === 'retry') this.handOut(held);
    }
  }

  protected override async ack(received: ReceivedMessage<JsMsg>): Promise<void> {
    await this.settled(received, super.ack(received));
  }

  protected override async deadLetter(
    received: ReceivedMessage<JsMsg>,
    error: string,
    attempts: number,
    event?: BrokerEvent,
  ): Promise<void> {
    await this.settled(received, super.deadLetter(received, error, attempts, event));
  }

  protected override handOut(held: HandedOut<JsMsg>): void {
    this.handling.set(held.received.key, this.partitionOf(held.received.message));
    super.handOut(held);
  }

  protected override async pass(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) this.forget(message);
    await super.pass(messages);
  }

  /**
   * The key stays the message's until its retry is settled: the message waits here, unacked, for
   * its next attempt. A partition being given back leaves it to the next owner, with the attempt
   * counted; one no longer owned is the next owner's already.
   */
  protected override async retryLater(received: ReceivedMessage<JsMsg>, event: BrokerEvent, delayMs: number): Promise<void> {
    const { message } = received;
    const partition = this.partitionOf(message);
    const owned = this.owned.get(partition);
    this.handling.delete(received.key);
    if (!owned) {
      this.turns.settled(received.key);
      return;
    }
    owned.unsettled.set(message.seq, received.attempt);
    this.turns.retrying(received.key);
    if (this.readable(partition)) {
      const wait: RetryWait = { held: { received: { ...received, attempt: received.attempt + 1 }, event }, partition };
      wait.timer = setTimeout(() => {
        wait.timer = undefined;
        this.wakeUp();
        this.settling.notify();
      }, delayMs);
      this.retries.set(received.key, wait);
    }
    this.settling.notify();
  }

  /** Hands out the retries that are due, at most `count`; says whether there were any. */
  private async retryDue(count: number): Promise<boolean> {
    const due: HandedOut<JsMsg>[] = [];
    for (const [key, wait] of this.retries) {
      if (due.length >= count) break;
      if (wait.timer) continue;
      this.retries.delete(key);
      due.push({ received: wait.held.received, event: this.decodedAgain(wait.held) });
    }
    if (due.length === 0) return false;
    this.handingOut(due);
    await this.deliver(due);
    return true;
  }

  /** The event of a retry as a redelivery would give it: the handler of the failed attempt may have changed the one it was given. */
  private decodedAgain({ received, event }: HandedOut<JsMsg>): BrokerEvent {
    try {
      return this.ordered.codec.decode(received.body ?? '');
    } catch {
      return event;
    }
  }

  /** Forgets the partition's retries waiting: they go in its hand-over, or the next owner handles them as lost. */
  private dropRetries(partition: number): void {
    for (const [key, wait] of this.retries) {
      if (wait.partition !== partition) continue;
      clearTimeout(wait.timer);
      this.retries.delete(key);
    }
  }

  /** Nothing more is handed out, retried or waited for. */
  private stopHandingOut(): void {
    this.stopped = true;
    clearInterval(this.parkedTimer);
    for (const wait of this.retries.values()) clearTimeout(wait.timer);
    this.retries.clear();
    this.settling.notify();
  }

  protected override async giveBack(): Promise<void> {
    // The partitions are handed over whole, with what ran counted: `release`.
  }

  /**
   * The key goes on once the message's settle is written. A settle that failed leaves the message
   * unacked: it comes again in its key's turn, as a retry.
   */
  private async settled(received: ReceivedMessage<JsMsg>, written: Promise<void>): Promise<void> {
    try {
      await written;
    } catch (error) {
      this.turns.retrying(received.key);
      throw error;
    } finally {
      this.handling.delete(received.key);
    }
    this.forget(received.message);
    const next = this.turns.settled(received.key);
    // Once the consumer is closed, the parked messages wait for the hand-over.
    if (next && !this.abort.signal.aborted && this.readable(this.partitionOf(next.received.message))) {
      this.handOut(next);
      this.wakeUp();
    }
    this.settling.notify();
  }

  private forget(message: JsMsg): void {
    const owned = this.owned.get(this.partitionOf(message));
    owned?.unsettled.delete(message.seq);
    owned?.carried.delete(message.seq);
  }

  /** The consumer's settings from the first message of the partition it has not acked in order. */
  private firstUnacked(partition: number, info: ConsumerInfo): Partial<ConsumerConfig> {
    const { ack_floor, delivered, config } = info;
    const from = (start: number): Partial<ConsumerConfig> => ({
      ...config,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
    });
    if (ack_floor.consumer_seq > 0) return from(ack_floor.stream_seq + 1);
    // Nothing acked: the consumer's own start, which its ack floor does not tell.
    if (delivered.consumer_seq === 0) return from(delivered.stream_seq + 1);
    if (config.deliver_policy === DeliverPolicy.StartSequence) return from(config.opt_start_seq ?? 1);
    if (config.deliver_policy === DeliverPolicy.New) return from(this.ordered.startSeqs[partition] || 1);
    return from(1);
  }

  /**
   * Deletes the partition's consumer and adds it again with `config`, recorded first in the leases
   * bucket: a next owner finishes the recreation if this one stops halfway. Another instance that
   * found the consumer missing meanwhile may have added it (as it found the group): the lease
   * holder's is the one that counts, so it deletes that one too.
   */
  private async recreate(partition: number, stream: string, config: Partial<ConsumerConfig>): Promise<void> {
    const { jsm, durable, setupWait } = this.ordered;
    await this.leases.startRecreation(partition, config);
    for (let attempt = 1; ; attempt++) {
      // Sent again for want of a leader: a delete that went through before is not found the second time.
      await waitingForLeader(setupWait, () =>
        jsm.consumers.delete(stream, durable).catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
          return true;
        }),
      );
      try {
        await waitingForLeader(setupWait, () => jsm.consumers.add(stream, config));
        break;
      } catch (error) {
        const added = await jsm.consumers.info(stream, durable).then(
          () => true,
          () => false,
        );
        if (!added || attempt === RECREATE_ATTEMPTS) throw error;
      }
    }
    await this.leases.finishRecreation(partition);
  }
}
