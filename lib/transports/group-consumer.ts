import { repeatUntilAborted, withTimeout } from '../core/async-primitives.js';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import type { BrokerLogger } from '../core/broker-logger.interface.js';
import { errorMessage } from '../core/error-message.js';
import { matchAnyPattern } from '../core/match-pattern.js';
import { printable } from '../core/quote-input.js';
import type { EventCodec } from './event-codec.interface.js';
import type { Consumer, ConsumerSpec, Delivery, FlowControl } from '../core/event-transport.interface.js';
import type { ReceivedMessage } from './received-message.interface.js';
import { UnsettledDeliveries } from './unsettled-deliveries.js';

/** A message about to be handed to the worker pool, with its event. */
export interface HandedOut<M> {
  received: ReceivedMessage<M>;
  event: BrokerEvent;
}

export interface GroupConsumerOptions {
  /** Names the transport in log lines: `Redis consumer of group …`. */
  transportName: string;
  logger: BrokerLogger;
  /** Reads the bodies of received messages; not needed by a transport that stores events decoded. */
  codec?: EventCodec;
  /** How long a delivery stays the consumer's without a heartbeat: leases are renewed three times as often. */
  leaseMs: number;
}

/**
 * One consumer of one group of a durable transport. It owns what every transport shares: the
 * read loop under the worker pool's flow control, routing (`only`/`skip` and the group's
 * patterns), decoding or dead-lettering the unreadable, the settle-once deliveries, the heartbeat
 * that keeps unsettled ones leased, and close/release. A transport supplies the primitives:
 * receive (read or claim), ack, retry later, dead-letter, pass by, renew leases and give back.
 */
export abstract class GroupConsumer<M> implements Consumer {
  protected readonly abort = new AbortController();
  private readonly unsettled = new UnsettledDeliveries<M>();
  private running?: Promise<void>;
  private heartbeat?: NodeJS.Timeout;

  protected constructor(
    protected readonly spec: ConsumerSpec,
    private readonly onDelivery: (delivery: Delivery) => void,
    private readonly flow: FlowControl,
    protected readonly options: GroupConsumerOptions,
  ) {}

  /**
   * Reads or claims at most `count` messages for the group and hands them to `dispatch`, waiting
   * (until `signal` aborts) when none is there.
   */
  protected abstract receive(count: number, signal: AbortSignal): Promise<void>;
  protected abstract ack(received: ReceivedMessage<M>, event: BrokerEvent): Promise<void>;
  /** Makes the pair due again after `delayMs`; `received.attempt` is the attempt that failed. */
  protected abstract retryLater(received: ReceivedMessage<M>, event: BrokerEvent, delayMs: number): Promise<void>;
  /** Moves the pair to the dead letters; `event` is missing when the message could not be read. */
  protected abstract deadLetter(received: ReceivedMessage<M>, error: string, attempts: number, event?: BrokerEvent): Promise<void>;
  /** Settles messages that are not for this group without handling them. */
  protected abstract pass(messages: readonly M[]): Promise<void>;
  /** Keeps the unsettled messages from being claimed by another consumer. */
  protected abstract renewLeases(messages: readonly M[]): Promise<void>;
  /** Makes messages handed out and not settled due at once, for another consumer of the group. */
  protected abstract giveBack(messages: readonly M[]): Promise<void>;

  /** Called with the messages of one read that are about to be handed out, and their events. */
  protected handingOut(messages: readonly HandedOut<M>[]): void {
    void messages;
  }

  /**
   * Messages the consumer took from the server and has not handed out yet, waiting for room: their
   * leases are renewed with those of the unsettled deliveries, or another consumer (or this one)
   * would claim them while they wait.
   */
  protected held(): M[] {
    return [];
  }

  /** Those of `messages` still handed out and not settled (a renewal racing a settle is not a lost lease). */
  protected stillUnsettled(messages: readonly M[]): M[] {
    const unsettled = new Set(this.unsettled.values());
    return messages.filter((message) => unsettled.has(message));
  }

  /** Resolves once the worker pool has room for `more` deliveries beyond what it has now, or when `signal` aborts. */
  protected whenMoreRoom(more: number, signal: AbortSignal): Promise<void> {
    return this.flow.whenReady(signal, this.flow.capacity() + more - 1);
  }

  /** Called by `close` after the loop was told to stop: ends a read that blocks. */
  protected interrupt(): void {}

  start(): void {
    this.running = this.loop();
    this.heartbeat = setInterval(() => void this.renewUnsettled(), Math.max(50, this.options.leaseMs / 3));
    this.heartbeat.unref();
  }

  async drained(): Promise<void> {
    // Nothing to drain: what is not settled stays in the server for another consumer.
  }

  async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    this.interrupt();
    await this.running;
  }

  /** Gives the unsettled deliveries back, waiting at most a lease: after that they are taken over anyway. */
  async release(): Promise<void> {
    clearInterval(this.heartbeat);
    const messages = this.unsettled.release();
    if (messages.length === 0) return;
    if (!(await withTimeout(this.giveBack(messages), this.options.leaseMs))) {
      this.options.logger.warn(
        `Could not give back ${messages.length} deliveries of group ${this.spec.group} in time; they are taken over when their lease ends`,
      );
    }
  }

  private loop(): Promise<void> {
    const signal = this.abort.signal;
    return repeatUntilAborted(
      signal,
      async () => {
        const capacity = this.flow.capacity();
        if (capacity <= 0) await this.flow.whenReady(signal);
        else await this.receive(capacity, signal);
      },
      (error) =>
        this.options.logger.warn(
          `${this.options.transportName} consumer of group ${this.spec.group} failed, retrying: ${errorMessage(error)}`,
        ),
    );
  }

  /** Hands out the messages meant for this group; passes the others by, dead-letters the unreadable. */
  protected async dispatch(messages: readonly ReceivedMessage<M>[]): Promise<void> {
    const { group, patterns } = this.spec;
    const passed: M[] = [];
    const handedOut: HandedOut<M>[] = [];
    for (const received of messages) {
      if ((received.only !== undefined && received.only !== group) || received.skip?.includes(group)) {
        passed.push(received.message);
        continue;
      }
      const event = received.event ?? (await this.decode(received));
      if (!event) continue;
      if (received.routed || matchAnyPattern(patterns, event.type)) handedOut.push({ received, event });
      else passed.push(received.message);
    }
    if (passed.length > 0) await this.pass(passed);
    if (handedOut.length === 0) return;
    this.handingOut(handedOut);
    await this.deliver(handedOut);
  }

  /** Hands the messages of one read to the worker pool; an ordered consumer holds some back for their keys. */
  protected async deliver(handedOut: readonly HandedOut<M>[]): Promise<void> {
    for (const message of handedOut) this.handOut(message);
  }

  /** Hands one message to the worker pool as a delivery. */
  protected handOut({ received, event }: HandedOut<M>): void {
    this.onDelivery(this.delivery(received, event));
  }

  /** The event of the message, or `undefined` once an unreadable message is dead-lettered. */
  private async decode(received: ReceivedMessage<M>): Promise<BrokerEvent | undefined> {
    try {
      if (received.body === undefined) throw new Error('the message has no body');
      if (!this.options.codec) throw new Error('the transport has no codec');
      return this.options.codec.decode(received.body);
    } catch (error) {
      const problem = `Unreadable message ${received.description}: ${printable(errorMessage(error))}`;
      this.options.logger.error(`${problem}; dead-lettered for group ${this.spec.group}`);
      await this.deadLetter(received, problem, received.attempt);
      return undefined;
    }
  }

  private delivery(received: ReceivedMessage<M>, event: BrokerEvent): Delivery {
    const { group } = this.spec;
    const settle = this.unsettled.track(received.key, received.message, event.id, group);
    const attempt = received.attempt;
    event.status = 'processing';
    event.retryCount = attempt - 1;
    return {
      event,
      group,
      attempt,
      ack: async () => {
        if (settle('ack')) await this.ack(received, event);
      },
      retry: async (delayMs: number) => {
        if (settle('retry')) await this.retryLater(received, event, delayMs);
      },
      deadLetter: async (error: string, attempts = attempt) => {
        if (settle('dead-letter')) await this.deadLetter(received, error, attempts, event);
      },
    };
  }

  private async renewUnsettled(): Promise<void> {
    const messages = [...this.unsettled.values(), ...this.held()];
    if (messages.length === 0) return;
    try {
      await this.renewLeases(messages);
    } catch (error) {
      this.options.logger.warn(`Could not extend the leases of group ${this.spec.group}: ${errorMessage(error)}`);
    }
  }
}
