import type { JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import { Signal } from '../../core/async-primitives.js';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { EventCodec } from '../event-codec.interface.js';
import type { ConsumerSpec, Delivery, FlowControl } from '../../core/event-transport.interface.js';
import { GroupConsumer, type HandedOut } from '../group-consumer.js';
import type { ReceivedMessage } from '../received-message.interface.js';
import type { NatsDeadLetters } from './nats-dead-letters.js';
import { HEADER_ONLY, HEADER_REPLAY_OF, HEADER_SKIP } from './nats-names.js';
import { NatsPartitionPull } from './nats-partition-pull.js';
import type { NatsProgress } from './nats-progress.js';
import type { NatsPosition } from './nats-subjects.js';

export interface NatsConsumerContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The events stream of each partition. */
  streams: readonly string[];
  progress: NatsProgress;
  deadLetters: NatsDeadLetters;
  ackWaitMs: number;
  fetchExpiresMs: number;
  logger: BrokerLogger;
  codec: EventCodec;
}

/** The shortest waiting pull when the room is too small for a pull on every partition, so that they take turns. */
const MIN_TURN_PULL_MS = 250;

/**
 * One consumer of one group, over every partition: one pull at a time per partition's stream
 * (a `NatsPartitionPull`), together asking for about as many messages as the worker pool has room
 * for. A partition whose last pull came back full gets a share of the room; the others keep a
 * pull of one message waiting, which costs nothing while they are idle and makes them get a share
 * as soon as something comes. A waiting pull cannot be shrunk: when the shares hold the room, a
 * partition left without a pull takes its one from them, so the pulls may ask for up to one
 * message a partition more than the room. When the room is smaller than the partitions waiting
 * for a pull, they take turns: with pulls that take only what is there, until a whole round found
 * nothing, then with waiting pulls, shorter the more partitions wait. What came while the
 * worker pool had no room waits in its pull's queue, kept alive with `working()` as what is
 * handed out, until a receive has room for it.
 * Settling a delivery is the engine's own: an ack, a delayed nak, a dead letter and a terminate;
 * the progress stream gets one record per batch of hand-outs and of acks.
 */
export class NatsGroupConsumer extends GroupConsumer<JsMsg> {
  private readonly arrival = new Signal();
  private readonly pulls: readonly NatsPartitionPull[];
  private readonly partitionOfStream: ReadonlyMap<string, number>;
  /** The partition that gets the first pull next time, so that each gets its turn. */
  private turn = 0;
  /** Turns taken since a message last came: once every partition had one, the turns wait. */
  private quietTurns = 0;

  constructor(
    private readonly context: NatsConsumerContext,
    spec: ConsumerSpec,
    onDelivery: (delivery: Delivery) => void,
    flow: FlowControl,
  ) {
    super(spec, onDelivery, flow, { transportName: 'NATS', logger: context.logger, codec: context.codec, leaseMs: context.ackWaitMs });
    this.pulls = context.streams.map((stream, partition) => new NatsPartitionPull(partition, stream, this.arrival));
    this.partitionOfStream = new Map(context.streams.map((stream, partition) => [stream, partition]));
  }

  /** Subscribes to the group's durable consumer `durable` on the stream of `partition`, whose filter is `filterSubject`. */
  async subscribe(partition: number, durable: string, filterSubject: string): Promise<void> {
    await this.pulls[partition].open(this.context.js, durable, filterSubject);
    this.wakeUp();
  }

  /** Ends the subscription to the stream of `partition`; gives what came and was not taken. */
  protected unsubscribe(partition: number): JsMsg[] {
    const left = this.pulls[partition].close();
    this.wakeUp();
    return left;
  }

  /** Whether the partition's stream is pulled from: an ordered consumer pulls only from those it owns. */
  protected readable(partition: number): boolean {
    void partition;
    return true;
  }

  /** Ends a wait for messages early, for pulls asked anew: a partition became readable, or room came free. */
  protected wakeUp(): void {
    this.arrival.notify();
  }

  /** The partition whose stream `message` came from. */
  protected partitionOf(message: JsMsg): number {
    return this.partitionOfStream.get(message.info.stream) ?? 0;
  }

  /** Gives back at once what came and was not handed out. */
  protected override interrupt(): void {
    this.arrival.notify();
    for (const pull of this.pulls) for (const message of pull.close()) message.nak();
  }

  protected async receive(count: number, signal: AbortSignal): Promise<void> {
    // What came while the worker pool had no room goes first, within the room there is now.
    const { received, error } = this.takeArrived(count);
    if (received.length > 0) await this.dispatch(received);
    if (error) throw error;
    if (received.length > 0 || signal.aborted) return;
    this.requestPulls(count);
    const waiting = this.pulls.filter((pull) => pull.waiting > 0);
    // Nothing to pull from (an ordered consumer that owns no partition): wait for a change.
    if (waiting.length === 0) return this.arrival.wait(signal, this.context.fetchExpiresMs);
    // One wait: what comes goes with the next receive, within the room there is then (other
    // subscriptions may fill the worker pool meanwhile).
    const wait = new AbortController();
    const ended = (): void => wait.abort();
    signal.addEventListener('abort', ended, { once: true });
    const until = Math.min(...waiting.map((pull) => pull.waitsUntil));
    try {
      await Promise.race([this.arrival.wait(wait.signal, Math.max(1, until - Date.now())), this.whenRoomForPulls(count, wait.signal)]);
    } finally {
      signal.removeEventListener('abort', ended);
      wait.abort();
    }
  }

  /**
   * Resolves once a partition left without a pull for want of room can have one: settling handlers
   * freed room beyond what the waiting pulls ask for (the receive had `count`). Never while every
   * readable partition has a pull: more room cannot enlarge a waiting pull.
   */
  private async whenRoomForPulls(count: number, signal: AbortSignal): Promise<void> {
    if (!this.pulls.some((pull) => pull.waiting === 0 && this.readable(pull.partition))) {
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    }
    const asked = this.pulls.reduce((sum, pull) => sum + pull.waiting, 0);
    await this.whenMoreRoom(Math.max(1, asked - count + 1), signal);
  }

  /** The messages that came and wait for room: renewed with the deliveries, or the server would send them again. */
  protected override held(): JsMsg[] {
    return this.pulls.flatMap((pull) => pull.queued);
  }

  /** Asks the partitions without a waiting pull for messages, within the room the waiting pulls leave or lend. */
  private requestPulls(count: number): void {
    const idle = [...this.pulls.slice(this.turn), ...this.pulls.slice(0, this.turn)].filter(
      (pull) => pull.waiting === 0 && this.readable(pull.partition),
    );
    let room = Math.max(0, count - this.pulls.reduce((sum, pull) => sum + pull.waiting, 0));
    // A partition left without a pull while the shares of the others hold the room (its own pull
    // ended, or it just became readable) takes its pull of one from them, rather than wait until
    // they end.
    const lent = this.pulls.reduce((sum, pull) => sum + Math.max(0, pull.waiting - 1), 0);
    room += Math.min(lent, Math.max(0, idle.length - room));
    const served = idle.slice(0, room);
    if (served.length === 0) return;
    let expires = this.context.fetchExpiresMs;
    if (served.length < idle.length) {
      const quiet = this.quietTurns >= idle.length;
      this.quietTurns += served.length;
      expires = quiet ? Math.max(MIN_TURN_PULL_MS, Math.floor((expires * served.length) / idle.length)) : 0;
    }
    room -= served.length;
    // A single partition has no other to leave room for.
    const hot = served.filter((pull) => pull.filled || this.pulls.length === 1);
    served.forEach((pull) => {
      const position = hot.indexOf(pull);
      const share = position < 0 ? 0 : Math.floor(room / hot.length) + (position < room % hot.length ? 1 : 0);
      pull.request(1 + share, expires);
    });
    this.turn = ((served.at(-1)?.partition ?? 0) + 1) % this.pulls.length;
  }

  /** What came, at most `count` messages, a partition after the other; and the error a pull ended with. */
  private takeArrived(count: number): { received: ReceivedMessage<JsMsg>[]; error?: unknown } {
    const received: ReceivedMessage<JsMsg>[] = [];
    try {
      for (const pull of this.pulls) {
        while (received.length < count && pull.ready) {
          const message = pull.next();
          if (!message) continue;
          this.quietTurns = 0;
          received.push(this.receivedMessage(pull.partition, message));
        }
      }
    } catch (error) {
      return { received, error };
    }
    return { received };
  }

  private receivedMessage(partition: number, message: JsMsg): ReceivedMessage<JsMsg> {
    return {
      message,
      key: `${partition}:${message.seq}`,
      description: `${message.seq} on ${message.subject}`,
      attempt: message.info.redeliveryCount,
      body: message.string(),
      only: message.headers?.get(HEADER_ONLY) || undefined,
      skip: message.headers?.get(HEADER_SKIP)?.split(','),
    };
  }

  protected override handingOut(messages: readonly HandedOut<JsMsg>[]): void {
    for (const { received } of messages)
      this.context.progress.start(this.spec.group, this.eventPosition(received.message), received.attempt);
  }

  protected async ack({ message }: ReceivedMessage<JsMsg>): Promise<void> {
    await this.context.progress.ack(this.spec.group, this.eventPosition(message), message);
    await this.forgetCopy(message);
  }

  protected async retryLater({ message }: ReceivedMessage<JsMsg>, _event: BrokerEvent, delayMs: number): Promise<void> {
    message.nak(delayMs);
  }

  // The dead letter is stored before the message is terminated: a process that dies in between
  // gets the message delivered again (a duplicate dead letter) instead of losing the failure.
  protected async deadLetter(
    { message, body }: ReceivedMessage<JsMsg>,
    error: string,
    attempts: number,
    event?: BrokerEvent,
  ): Promise<void> {
    await this.context.deadLetters.add(this.spec.group, this.eventPosition(message), body ?? '', error, attempts);
    if (event) message.term();
    else message.ack();
    await this.forgetCopy(message);
  }

  protected async pass(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) message.ack();
  }

  protected async renewLeases(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) message.working();
  }

  /** Naks the messages without delay, so another instance takes them over at once. */
  protected async giveBack(messages: readonly JsMsg[]): Promise<void> {
    for (const message of messages) message.nak();
  }

  /** Where the event a message carries is: a replayed copy's is the one of the event it copies, in the same stream. */
  private eventPosition(message: JsMsg): NatsPosition {
    return {
      partition: this.partitionOf(message),
      seq: Number(message.headers?.get(HEADER_REPLAY_OF)) || message.seq,
    };
  }

  /** A replayed copy has done its work once settled: the event's own message stays the history. */
  private async forgetCopy(message: JsMsg): Promise<void> {
    if (!message.headers?.get(HEADER_ONLY)) return;
    const stream = message.info.stream;
    await this.context.jsm.streams.deleteMessage(stream, message.seq, false).catch((error: unknown) => {
      this.context.logger.warn(`Could not delete the replayed copy ${message.seq} from ${stream}: ${errorMessage(error)}`);
    });
  }
}
