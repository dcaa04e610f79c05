import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type {
  Consumer,
  Delivery,
  EventTransport,
  FlowControl,
  PublishOptions,
  TransactionClient,
  TransportStats,
} from './event-transport.interface.js';
import { Signal, sleep, withTimeout } from './async-primitives.js';
import type { BrokerEvent } from './broker-event.interface.js';
import { consoleBrokerLogger, type BrokerLogger, type LogContext } from './broker-logger.interface.js';
import { createEvent, type CreateEventInput } from './create-event.js';
import type { EventBrokerOptions, PublishInterceptor, PublishMode } from './event-broker-options.interface.js';
import { BrokerStateError, EventBrokerError, InvalidEventError } from './event-broker.errors.js';
import { assertPattern, matchAnyPattern } from './match-pattern.js';
import { admitPayload, DEFAULT_MAX_PAYLOAD_BYTES, forgetAdmittedPayload, rememberAdmittedPayload } from './payload-validation.js';
import { backoffDelay, resolveRetryOptions, type RetryOptions } from './retry-policy.js';
import type { DeliveryInfo, EventHandler, SubscribeOptions, Subscription } from './subscription.interface.js';
import { WorkerPool } from './worker-pool.js';
import { defaultGroup, handlerName } from './default-group.js';
import { assertKnownOptions, type OptionNames } from './known-options.js';
import { errorMessage } from './error-message.js';
import { quote } from './quote-input.js';
import { checkPayload, resolveContract } from './contract-validation.js';
import { isEventContract } from './define-event.js';
import type {
  AnyEventInput,
  ContractEventInput,
  EventContract,
  EventPayload,
  EventPayloadInput,
  EventSelector,
} from './event-contract.interface.js';
import { selectedEvents } from './event-selectors.js';

export interface BrokerPublishOptions {
  /** The caller's database transaction: the event is delivered if and only if it commits. */
  tx?: TransactionClient;
}

export interface BrokerStats {
  instanceId: string;
  mode: PublishMode;
  running: boolean;
  totalPublished: number;
  totalProcessed: number;
  totalFailed: number;
  activeSubscribers: number;
  /** Deliveries taken from the transport, waiting for a free worker. */
  queueSize: number;
  activeWorkers: number;
  transport: TransportStats;
}

interface ActiveSubscription extends Subscription {
  readonly handler: EventHandler;
  /** The contract of each type the subscription was given one for: its payloads are checked before the handler runs. */
  readonly contracts: ReadonlyMap<string, EventContract>;
  readonly retry: RetryOptions;
  readonly concurrency: number;
  readonly fromBeginning: boolean;
  readonly ordered: boolean;
  inFlight: number;
  consumer?: Consumer;
}

type BrokerState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped';

/** A delivery taken from the transport, waiting for (or running on) a worker. */
interface Job {
  readonly subscription: ActiveSubscription;
  readonly delivery: Delivery;
}

export const BROKER_OPTION_NAMES: OptionNames<EventBrokerOptions> = {
  transport: true,
  instanceId: true,
  serviceName: true,
  mode: true,
  workerCount: true,
  bufferSize: true,
  retry: true,
  maxPayloadBytes: true,
  shutdownTimeoutMs: true,
  logger: true,
  publishInterceptors: true,
};

const SUBSCRIBE_OPTION_NAMES: OptionNames<SubscribeOptions> = {
  group: true,
  retry: true,
  concurrency: true,
  fromBeginning: true,
  ordered: true,
};

const GROUP_NAME = /^[A-Za-z0-9_.:-]+$/;

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new EventBrokerError(`EventBroker option ${name} must be a positive integer, got ${value}`);
  return value;
}

function requireTransport(transport: EventTransport | undefined): EventTransport {
  if (transport === undefined || transport === null)
    throw new EventBrokerError('EventBroker option transport is required: give an EventTransport (new MemoryTransport(), for one)');
  if (typeof transport !== 'object' || typeof transport.connect !== 'function' || typeof transport.consume !== 'function')
    throw new EventBrokerError(
      `EventBroker option transport must be an EventTransport, got ${typeof transport === 'string' ? quote(transport) : typeof transport}`,
    );
  return transport;
}

/** A handler that failed is retried; a payload its contract rejected is not (it would fail the same way). */
type Outcome = { ok: true } | { ok: false; error: unknown } | { ok: false; rejected: string };
const SUCCESS: Outcome = { ok: true };

const succeeded = (): Outcome => SUCCESS;
const failed = (error: unknown): Outcome => ({ ok: false, error });

/** Calls the handler, once the contract of the event's type (if it has one) admitted the payload. Never rejects. */
function invoke(subscription: ActiveSubscription, event: BrokerEvent, delivery: DeliveryInfo): Promise<Outcome> {
  const contract = subscription.contracts.get(event.type);
  if (contract) return invokeAdmitted(subscription, contract, event, delivery);
  try {
    return Promise.resolve(subscription.handler(event, delivery)).then(succeeded, failed);
  } catch (error) {
    return Promise.resolve(failed(error));
  }
}

async function invokeAdmitted(
  subscription: ActiveSubscription,
  contract: EventContract,
  event: BrokerEvent,
  delivery: DeliveryInfo,
): Promise<Outcome> {
  try {
    const check = await checkPayload(contract, event.payload);
    if (!check.ok) return { ok: false, rejected: check.message };
    await subscription.handler({ ...event, payload: check.value }, delivery);
    return SUCCESS;
  } catch (error) {
    return failed(error);
  }
}

function typeName(type: string | EventContract): string {
  return isEventContract(type) ? type.type : type;
}

/**
 * Publishes events to a transport and runs subscribed handlers on a bounded worker pool, with
 * retries, dead-lettering and the status lifecycle. Knows nothing of Nest.
 */
export class EventBroker {
  readonly instanceId: string;
  readonly serviceName: string;
  readonly mode: PublishMode;
  readonly transport: EventTransport;
  private readonly workerCount: number;
  private readonly bufferSize: number;
  private readonly retry: RetryOptions;
  private readonly maxPayloadBytes: number;
  private readonly shutdownTimeoutMs: number;
  private readonly logger: BrokerLogger;
  private readonly publishInterceptors: readonly PublishInterceptor[];
  private readonly pool: WorkerPool<Job>;
  private readonly subscriptions = new Map<string, ActiveSubscription>();
  /** Notified whenever a delivery settles: capacity and idleness may have changed. */
  private readonly settled = new Signal();
  private inFlight = 0;
  /** Publishes past the state check and not finished: shutdown waits for them before closing the transport. */
  private publishing = 0;
  private state: BrokerState = 'created';
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  private totalPublished = 0;
  private totalProcessed = 0;
  private totalFailed = 0;

  constructor(options: EventBrokerOptions) {
    assertKnownOptions('EventBroker', options, BROKER_OPTION_NAMES);
    this.transport = requireTransport(options.transport);
    this.instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.serviceName = options.serviceName ?? 'app';
    this.mode = options.mode ?? 'async';
    if (this.mode !== 'async' && this.mode !== 'sync')
      throw new EventBrokerError(`EventBroker option mode must be 'async' or 'sync', got ${String(this.mode)}`);
    this.workerCount = positiveInteger('workerCount', options.workerCount ?? 10);
    this.bufferSize = positiveInteger('bufferSize', options.bufferSize ?? 1000);
    this.maxPayloadBytes = positiveInteger('maxPayloadBytes', options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
    this.shutdownTimeoutMs = positiveInteger('shutdownTimeoutMs', options.shutdownTimeoutMs ?? 10_000);
    this.retry = resolveRetryOptions(options.retry, 'EventBroker');
    this.logger = options.logger ?? consoleBrokerLogger;
    this.publishInterceptors = options.publishInterceptors ?? [];
    this.pool = new WorkerPool(this.workerCount, (job) => this.process(job));
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Deliveries taken from the transport and waiting for a free worker. */
  get queueSize(): number {
    return this.pool.queued;
  }

  /** Handlers running now. */
  get activeWorkers(): number {
    return this.pool.active;
  }

  /** Publishes called and not yet stored or refused: their payloads may still be checked against a contract. */
  get publishesInProgress(): number {
    return this.publishing;
  }

  /** Connects the transport and starts consuming for every subscription made so far. */
  start(): Promise<void> {
    if (this.state === 'running') return Promise.resolve();
    if (this.state === 'starting') return this.starting as Promise<void>;
    if (this.state !== 'created') return Promise.reject(new BrokerStateError(`EventBroker cannot start: it is ${this.state}`));
    this.starting = this.connectAndConsume();
    return this.starting;
  }

  private async connectAndConsume(): Promise<void> {
    this.state = 'starting';
    try {
      await this.transport.connect({ logger: this.logger });
      for (const subscription of this.subscriptions.values()) await this.openConsumer(subscription);
      this.state = 'running';
    } catch (error) {
      await Promise.all([...this.subscriptions.values()].map((subscription) => this.closeConsumer(subscription)));
      this.state = 'created';
      throw error;
    }
  }

  /**
   * Publishes in the broker's mode and resolves with the stored event. With a contract as the
   * type, the payload is checked against its schema first (an `InvalidEventError` names the paths).
   */
  publish<C extends EventContract>(
    input: ContractEventInput<C>,
    options?: BrokerPublishOptions,
  ): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publish<T>(input: CreateEventInput<T>, options?: BrokerPublishOptions): Promise<BrokerEvent<T>>;
  publish<T>(input: AnyEventInput<T>, options: BrokerPublishOptions = {}): Promise<BrokerEvent<T>> {
    return this.mode === 'sync' && !options.tx ? this.sendSync<T>(input) : this.sendAsync<T>(input, options);
  }

  /**
   * Resolves once the transport has accepted the event; handlers run later, on any instance. With
   * `tx`, the event is written in that transaction and delivered if and only if it commits.
   */
  publishAsync<C extends EventContract>(
    input: ContractEventInput<C>,
    options?: BrokerPublishOptions,
  ): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publishAsync<T>(input: CreateEventInput<T>, options?: BrokerPublishOptions): Promise<BrokerEvent<T>>;
  publishAsync<T>(input: AnyEventInput<T>, options: BrokerPublishOptions = {}): Promise<BrokerEvent<T>> {
    return this.sendAsync(input, options);
  }

  private async sendAsync<T>(input: AnyEventInput<T>, options: BrokerPublishOptions): Promise<BrokerEvent<T>> {
    this.assertRunning(typeName(input.type));
    if (options.tx && !this.transport.transactional) {
      throw new EventBrokerError(
        `Cannot publish ${typeName(input.type)} inside a database transaction: the ${this.transport.type} transport does not take one (the postgres transport does)`,
      );
    }
    this.publishing++;
    try {
      const resolved = resolveContract<T>(input);
      // Only a contract's check is waited for: a plain input costs no turn of the event loop.
      const event = this.createEvent(resolved instanceof Promise ? await resolved : resolved);
      await this.store(event, { tx: options.tx });
      this.totalPublished++;
      return event;
    } finally {
      this.published();
    }
  }

  /**
   * Runs this instance's matching handlers inline, with retries, and resolves after they finish;
   * rejects with the first handler error once its retries are spent. Groups that have no
   * subscription here still get the event through the transport.
   */
  publishSync<C extends EventContract>(input: ContractEventInput<C>): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publishSync<T>(input: CreateEventInput<T>): Promise<BrokerEvent<T>>;
  publishSync<T>(input: AnyEventInput<T>): Promise<BrokerEvent<T>> {
    return this.sendSync(input);
  }

  private async sendSync<T>(input: AnyEventInput<T>): Promise<BrokerEvent<T>> {
    this.assertRunning(typeName(input.type));
    this.publishing++;
    try {
      const event = this.createEvent(await resolveContract<T>(input));
      // An ordered group's event may have to wait for the earlier ones of its key: it goes through the transport.
      const matching = [...this.subscriptions.values()].filter(
        (subscription) => !subscription.ordered && matchAnyPattern(subscription.patterns, event.type),
      );
      const deliveries = await this.store(event, { claimGroups: matching.map((subscription) => subscription.group) });
      this.totalPublished++;
      const outcomes = await Promise.allSettled(
        deliveries.map((delivery) => this.runInline(this.subscriptions.get(delivery.group) as ActiveSubscription, delivery)),
      );
      const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failure) throw failure.reason;
      return ((await this.transport.get(event.id)) as BrokerEvent<T> | null) ?? event;
    } finally {
      this.published();
    }
  }

  /**
   * Builds and checks the event exactly as `publish` would (this instance's id, the payload limit,
   * the payload as JSON gives it back) without publishing it.
   */
  createEvent<T>(input: CreateEventInput<T>): BrokerEvent<T> {
    const event = createEvent(input);
    event.instanceId = this.instanceId;
    const admitted = admitPayload(event.payload, this.maxPayloadBytes);
    event.payload = admitted.value as T;
    rememberAdmittedPayload(event, admitted);
    return event;
  }

  /**
   * Subscribes `handler` to every event whose type matches one of `patterns`, or is the type of one
   * of the contracts given instead: a payload its contract rejects is dead-lettered with the
   * reason, without running the handler, which receives the schema's output. Consumption starts
   * now when the broker runs, or at `start` otherwise.
   */
  subscribe<C extends EventContract>(
    contracts: C | readonly C[],
    handler: EventHandler<EventPayload<C>>,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  subscribe<T>(patterns: string | readonly string[], handler: EventHandler<T>, options?: SubscribeOptions): Promise<Subscription>;
  subscribe(selectors: readonly EventSelector[], handler: EventHandler, options?: SubscribeOptions): Promise<Subscription>;
  async subscribe(
    selectors: EventSelector | readonly EventSelector[],
    handler: EventHandler<never>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (this.state === 'stopping' || this.state === 'stopped')
      throw new BrokerStateError(`EventBroker cannot subscribe: it is ${this.state}`);
    const { patterns: list, contracts } = selectedEvents(selectors);
    if (list.length === 0) throw new EventBrokerError('EventBroker.subscribe needs at least one pattern');
    assertKnownOptions('EventBroker.subscribe', options, SUBSCRIBE_OPTION_NAMES);
    list.forEach((pattern) => assertPattern(pattern));
    const group = options.group ?? defaultGroup(this.serviceName, handler as EventHandler, list);
    if (!GROUP_NAME.test(group) || group.endsWith('.'))
      throw new EventBrokerError(`Invalid subscription group ${quote(group)}: use [A-Za-z0-9_.:-]`);
    if (this.subscriptions.has(group)) {
      if (options.group === undefined && handlerName(handler as EventHandler) === '') {
        throw new EventBrokerError(
          `Another handler without a name already subscribes to ${list.join(', ')} on this broker, in group ${group}: give one of them options.group, or use a named function`,
        );
      }
      throw new EventBrokerError(`Group ${group} already has a subscription on this broker`);
    }
    const ordered = options.ordered ?? false;
    if (typeof ordered !== 'boolean')
      throw new EventBrokerError(`Option ordered of group ${group} must be a boolean, got ${quote(ordered)}`);
    if (ordered && !this.transport.orderedGroups) {
      throw new EventBrokerError(
        `Cannot subscribe group ${group} ordered: the ${this.transport.type} transport does not support ordered groups yet (the memory, postgres, redis and nats transports do)`,
      );
    }
    const concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
    if (concurrency !== Number.POSITIVE_INFINITY) positiveInteger(`concurrency of group ${group}`, concurrency);
    const subscription: ActiveSubscription = {
      group,
      patterns: list,
      handler: handler as EventHandler,
      contracts,
      retry: resolveRetryOptions(options.retry, `group ${group}`, this.retry),
      concurrency,
      fromBeginning: options.fromBeginning ?? false,
      ordered,
      inFlight: 0,
    };
    this.subscriptions.set(group, subscription);
    if (this.state === 'running') {
      try {
        await this.openConsumer(subscription);
      } catch (error) {
        this.subscriptions.delete(group);
        throw error;
      }
    }
    return { group, patterns: list };
  }

  /** Stops the subscription's consumer and waits for its running handlers. */
  async unsubscribe(subscription: Subscription): Promise<void> {
    const active = this.subscriptions.get(subscription.group);
    if (!active) return;
    this.subscriptions.delete(subscription.group);
    const consumer = active.consumer;
    await this.closeConsumer(active);
    while (active.inFlight > 0) await this.settled.wait();
    await consumer?.release();
  }

  async stats(): Promise<BrokerStats> {
    return {
      instanceId: this.instanceId,
      mode: this.mode,
      running: this.running,
      totalPublished: this.totalPublished,
      totalProcessed: this.totalProcessed,
      totalFailed: this.totalFailed,
      activeSubscribers: this.subscriptions.size,
      queueSize: this.queueSize,
      activeWorkers: this.activeWorkers,
      transport: await this.transport.stats(),
    };
  }

  /**
   * Stops taking events, lets accepted work finish (all of it on a transport that is not
   * durable, the running handlers otherwise) within `shutdownTimeoutMs`, then closes the transport.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    const deadline = Date.now() + this.shutdownTimeoutMs;
    if (!(await withTimeout(this.whenPublished(), this.shutdownTimeoutMs))) {
      this.logger.warn('Shutdown timeout: publishes still in progress are abandoned', { publishing: this.publishing });
    }
    const subscriptions = [...this.subscriptions.values()];
    if (wasRunning && !this.transport.durable) {
      const drained = await withTimeout(
        Promise.all(subscriptions.map((subscription) => subscription.consumer?.drained())),
        deadline - Date.now(),
      );
      if (!drained)
        this.logger.warn(`Shutdown timeout: events still queued on the ${this.transport.type} transport are dropped`, {
          timeoutMs: this.shutdownTimeoutMs,
        });
    }
    const consumers = subscriptions.flatMap((subscription) => subscription.consumer ?? []);
    await Promise.all(subscriptions.map((subscription) => this.closeConsumer(subscription)));
    const idle = await withTimeout(this.whenIdle(), Math.max(0, deadline - Date.now()));
    if (!idle)
      this.logger.warn('Shutdown timeout: handlers still running are abandoned; their events are redelivered by a durable transport', {
        inFlight: this.inFlight,
      });
    await Promise.all(consumers.map((consumer) => consumer.release()));
    if (wasRunning) await this.transport.close();
    this.state = 'stopped';
  }

  private assertRunning(type: string): void {
    if (this.state === 'running') return;
    const advice = this.state === 'created' || this.state === 'starting' ? 'call start() first' : 'it has been stopped';
    throw new BrokerStateError(`Cannot publish ${type}: the EventBroker is not running (${advice})`);
  }

  private async openConsumer(subscription: ActiveSubscription): Promise<void> {
    const flow: FlowControl = {
      // One read takes at most twice what the workers run: in a burst, the other instances of the group get their share.
      capacity: () => Math.min(this.bufferSize - this.inFlight, subscription.concurrency - subscription.inFlight, 2 * this.workerCount),
      whenReady: async (signal, above = 0) => {
        while (flow.capacity() <= above && !signal.aborted) await this.settled.wait(signal);
      },
    };
    subscription.consumer = await this.transport.consume(
      {
        group: subscription.group,
        patterns: subscription.patterns,
        consumerName: this.instanceId,
        fromBeginning: subscription.fromBeginning,
        ordered: subscription.ordered,
      },
      (delivery) => this.accept(subscription, delivery),
      flow,
    );
  }

  private async closeConsumer(subscription: ActiveSubscription): Promise<void> {
    const consumer = subscription.consumer;
    subscription.consumer = undefined;
    await consumer?.close();
  }

  private accept(subscription: ActiveSubscription, delivery: Delivery): void {
    this.inFlight++;
    subscription.inFlight++;
    this.pool.run({ subscription, delivery });
  }

  /** Runs one delivery on a worker: the handler, then the settlement of its outcome. Never rejects. */
  private async process({ subscription, delivery }: Job): Promise<void> {
    try {
      if (delivery.attempt > subscription.retry.maxRetries + 1) {
        await this.overdue(delivery);
      } else {
        const outcome = await invoke(subscription, delivery.event, this.deliveryInfo(subscription, delivery.attempt));
        await this.settlement(outcome, subscription, delivery);
      }
    } catch (error) {
      this.settleFailed(error, delivery);
    } finally {
      this.inFlight--;
      subscription.inFlight--;
      this.settled.notify();
    }
  }

  /** Delivered again after its consumers crashed or timed out, past the retries it was allowed: dead-lettered. */
  private overdue(delivery: Delivery): Promise<void> {
    this.totalFailed++;
    const error = `Delivered ${delivery.attempt} times without an outcome (its consumers crashed or timed out)`;
    this.logger.error(`${error}, dead-lettered`, this.logContext(delivery));
    return delivery.deadLetter(error);
  }

  /** Settles the delivery by how its handler went. */
  private settlement(outcome: Outcome, subscription: ActiveSubscription, delivery: Delivery): Promise<void> {
    if (outcome.ok) {
      this.totalProcessed++;
      return delivery.ack();
    }
    if ('rejected' in outcome) return this.reject(outcome.rejected, delivery);
    if (delivery.attempt <= subscription.retry.maxRetries) {
      const delayMs = backoffDelay(delivery.attempt, subscription.retry);
      this.logger.warn(`Handler failed, retrying in ${delayMs} ms: ${errorMessage(outcome.error)}`, this.logContext(delivery));
      return delivery.retry(delayMs, errorMessage(outcome.error));
    }
    this.totalFailed++;
    this.logger.error(`Handler failed for the last time, dead-lettered: ${errorMessage(outcome.error)}`, this.logContext(delivery));
    return delivery.deadLetter(errorMessage(outcome.error));
  }

  private async runInline(subscription: ActiveSubscription, delivery: Delivery): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await invoke(subscription, { ...delivery.event, retryCount: attempt - 1 }, this.deliveryInfo(subscription, attempt));
      if (outcome.ok) {
        this.totalProcessed++;
        await this.settle(delivery.ack(), delivery);
        return;
      }
      if ('rejected' in outcome) {
        await this.settle(this.reject(outcome.rejected, delivery, attempt), delivery);
        throw new InvalidEventError(outcome.rejected);
      }
      const context = this.logContext(delivery, attempt);
      if (attempt > subscription.retry.maxRetries) {
        this.totalFailed++;
        this.logger.error(`Handler failed for the last time, dead-lettered: ${errorMessage(outcome.error)}`, context);
        await this.settle(delivery.deadLetter(errorMessage(outcome.error), attempt), delivery);
        throw outcome.error;
      }
      const delayMs = backoffDelay(attempt, subscription.retry);
      this.logger.warn(`Handler failed, retrying in ${delayMs} ms: ${errorMessage(outcome.error)}`, context);
      await sleep(delayMs);
    }
  }

  /** A payload the subscription's contract rejected: dead-lettered at once, the handler never ran. */
  private reject(reason: string, delivery: Delivery, attempts = delivery.attempt): Promise<void> {
    this.totalFailed++;
    this.logger.error(
      `Payload rejected by its contract, dead-lettered without running the handler: ${reason}`,
      this.logContext(delivery, attempts),
    );
    return delivery.deadLetter(reason, attempts);
  }

  /** A settle call that fails (transport down) is logged; a durable transport redelivers. */
  private async settle(settling: Promise<void>, delivery: Delivery): Promise<void> {
    try {
      await settling;
    } catch (error) {
      this.settleFailed(error, delivery);
    }
  }

  private settleFailed(error: unknown, delivery: Delivery): void {
    this.logger.error(`Could not record the outcome of a delivery: ${errorMessage(error)}`, this.logContext(delivery));
  }

  /** Hands `event` to the transport inside the publish interceptors, the first outermost. */
  private store(event: BrokerEvent, options: PublishOptions): Promise<Delivery[]> {
    const interceptors = this.publishInterceptors;
    if (interceptors.length === 0) return this.transport.publish(event, options);
    let deliveries: Delivery[] = [];
    const run = interceptors.reduceRight<() => Promise<void>>(
      (inner, interceptor) => () => interceptor(event, inner, this.transport.type),
      async () => {
        // An interceptor may have changed the payload: the transport takes it as it is now.
        forgetAdmittedPayload(event);
        deliveries = await this.transport.publish(event, options);
      },
    );
    return run().then(() => deliveries);
  }

  private deliveryInfo(subscription: ActiveSubscription, attempt: number): DeliveryInfo {
    return { group: subscription.group, attempt, maxAttempts: subscription.retry.maxRetries + 1, transport: this.transport.type };
  }

  private logContext(delivery: Delivery, attempt = delivery.attempt): LogContext {
    return { eventId: delivery.event.id, type: delivery.event.type, group: delivery.group, attempt };
  }

  /** A publish past the state check finished, one way or the other. */
  private published(): void {
    this.publishing--;
    this.settled.notify();
  }

  private async whenPublished(): Promise<void> {
    while (this.publishing > 0) await this.settled.wait();
  }

  private async whenIdle(): Promise<void> {
    while (this.inFlight > 0) await this.settled.wait();
  }
}
