import type { BrokerEvent } from './broker-event.interface.js';
import type { BrokerLogger } from './broker-logger.interface.js';
import type { DeadLetterStore } from './dead-letter-store.interface.js';
import type { EventHistory } from './event-history.interface.js';

/**
 * One (event, group) pair handed to one consumer. Exactly one of `ack`, `retry` or `deadLetter`
 * settles it; a delivery left unsettled (crash, shutdown) is redelivered by a durable transport.
 */
export interface Delivery {
  /** A copy of the event for this group: `retryCount` is `attempt - 1`, `status` is `processing`. */
  readonly event: BrokerEvent;
  readonly group: string;
  /** 1 on the first delivery of the pair, then one more per redelivery. */
  readonly attempt: number;
  /** The handler succeeded. */
  ack(): Promise<void>;
  /** The handler failed: deliver the pair again after `delayMs`. */
  retry(delayMs: number, error: string): Promise<void>;
  /**
   * The handler failed for the last time: move the pair to the dead-letter store. `attempts`
   * (default `attempt`) is larger when the publisher retried inline (sync mode).
   */
  deadLetter(error: string, attempts?: number): Promise<void>;
}

/** What a consumer may take, set by the broker's worker pool (back-pressure). */
export interface FlowControl {
  /** How many more deliveries the consumer may take now, in one read. */
  capacity(): number;
  /**
   * Resolves once `capacity()` is above `above` (zero unless given), or when `signal` aborts. A
   * consumer whose waiting reads hold part of the room waits for room beyond them.
   */
  whenReady(signal: AbortSignal, above?: number): Promise<void>;
}

export interface ConsumerSpec {
  group: string;
  patterns: readonly string[];
  /** Names this consumer inside its group (the broker's instance id). */
  consumerName: string;
  /**
   * A group that does not exist yet starts at new events; with `fromBeginning` it starts at the
   * oldest event the transport still holds. An existing group keeps its position either way.
   */
  fromBeginning?: boolean;
  /**
   * Hand out the deliveries of one key (`partitionKeyOf`) one at a time, in publish order, across
   * the group's consumers: the next one waits until the one before is acked or dead-lettered
   * (through its retries). Only given to a transport that declares `orderedGroups`.
   */
  ordered?: boolean;
}

export interface Consumer {
  /** Resolves once every delivery routed to the group has been settled. */
  drained(): Promise<void>;
  /** Stops taking deliveries; what was handed out may still be settled. */
  close(): Promise<void>;
  /**
   * Gives the deliveries this consumer handed out and that are still unsettled back to the group,
   * for another consumer to take now; settling one of them afterwards has no effect.
   */
  release(): Promise<void>;
}

/** Anything that runs a query inside the caller's transaction: a `pg` client, a TypeORM query runner, … */
export interface TransactionClient {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

export interface PublishOptions {
  /**
   * Write the event inside this transaction: it is delivered if and only if the transaction
   * commits (the transactional outbox). Only transports that store events in the same database
   * take it.
   */
  tx?: TransactionClient;
  /**
   * Groups the publisher handles inline (sync mode): their deliveries are returned by `publish`
   * instead of being routed to consumers.
   */
  claimGroups?: readonly string[];
}

export interface GroupStats {
  /** Waiting for delivery, including those waiting for a retry. */
  pending: number;
  /** Handed out, not yet settled. */
  inFlight: number;
  deadLetters: number;
}

export interface TransportStats {
  type: string;
  events: number;
  deadLetters: number;
  groups: Record<string, GroupStats>;
}

/** What the broker hands its transport on `connect`. */
export interface TransportContext {
  /** Where the transport reports what it recovers from on its own (reconnects, bad messages). */
  logger: BrokerLogger;
}

/**
 * Where events are stored and how they reach consumers: the port every transport implements. It
 * publishes and hands deliveries to consumers, and keeps the history and the dead letters.
 * `EventBroker` owns the transport: it calls `connect` on start and `close` on stop.
 */
export interface EventTransport extends EventHistory, DeadLetterStore {
  readonly type: string;
  /** Whether accepted events survive a restart of this process. */
  readonly durable: boolean;
  /** Whether `publish` takes the caller's database transaction (`PublishOptions.tx`). */
  readonly transactional: boolean;
  /** Whether `consume` takes ordered groups (`ConsumerSpec.ordered`); a transport that leaves it out does not. */
  readonly orderedGroups?: boolean;
  /** Without `context` (a transport used on its own), it logs to the console. */
  connect(context?: TransportContext): Promise<void>;
  /** Stores `event` and routes it to every consumer group whose patterns match its type. */
  publish(event: BrokerEvent, options?: PublishOptions): Promise<Delivery[]>;
  /** Starts handing the group's deliveries to `onDelivery`, as far as `flow` allows. */
  consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void, flow: FlowControl): Promise<Consumer>;
  stats(): Promise<TransportStats>;
  close(): Promise<void>;
}
