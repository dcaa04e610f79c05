import { errorMessage } from '../core/error-message.js';
import { Injectable, Logger } from '@nestjs/common';
import type { BrokerEvent, EventMetadata, EventSource } from '../core/broker-event.interface.js';
import type { CreateEventInput } from '../core/create-event.js';
import type { PublishMode } from '../core/event-broker-options.interface.js';
import { EventBroker } from '../core/event-broker.js';
import { BrokerStateError } from '../core/event-broker.errors.js';
import type { TransactionClient } from '../core/event-transport.interface.js';
import { EventRequestContext } from './event-request-context.js';
import { resolveContract } from '../core/contract-validation.js';
import { isEventContract } from '../core/define-event.js';
import type { AnyEventInput, ContractEventInput, EventContract, EventPayloadInput } from '../core/event-contract.interface.js';

export interface PublishEventOptions {
  /** Defaults to `'internal'`. */
  source?: EventSource;
  /** Defaults to the current request's user. */
  userId?: string | number;
  /** Defaults to the current request's session. */
  sessionId?: string;
  /** What the event is partitioned and ordered by (an order id, say): ordered groups handle one key's events in publish order. */
  key?: string;
  metadata?: EventMetadata;
  /** Give one to make a retried publish idempotent. */
  id?: string;
  /**
   * The caller's database transaction (a `pg` client after `BEGIN`, a TypeORM query runner, …):
   * the event is delivered if and only if it commits. Needs the postgres transport.
   */
  tx?: TransactionClient;
}

type TypeOrEvent<T> = string | EventContract | AnyEventInput<T>;

interface HeldEvent {
  event: BrokerEvent;
  mode: PublishMode;
}

/**
 * Publishes events from Nest code. `userId` and `sessionId` default to those of the HTTP request
 * (or event) being handled. Events published before the application has bootstrapped (in
 * `onModuleInit`, say) are checked, held, and published once every `@OnEvent` handler is bound.
 */
@Injectable()
export class EventPublisher {
  private readonly logger = new Logger('EventPublisher');
  private held: HeldEvent[] | undefined = [];

  constructor(private readonly broker: EventBroker) {}

  /** Publishes in the broker's mode and resolves with the stored event. */
  publish<C extends EventContract>(
    contract: C,
    payload: EventPayloadInput<C>,
    options?: PublishEventOptions,
  ): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publish<T>(type: string, payload: T, options?: PublishEventOptions): Promise<BrokerEvent<T>>;
  publish<C extends EventContract>(event: ContractEventInput<C>): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publish<T>(event: CreateEventInput<T>): Promise<BrokerEvent<T>>;
  publish<T>(typeOrEvent: TypeOrEvent<T>, payload?: T, options?: PublishEventOptions): Promise<BrokerEvent<T>> {
    return this.send(this.broker.mode, this.toInput(typeOrEvent, payload, options), options?.tx);
  }

  /** Resolves once the transport has stored the event. */
  publishAsync<C extends EventContract>(
    contract: C,
    payload: EventPayloadInput<C>,
    options?: PublishEventOptions,
  ): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publishAsync<T>(type: string, payload: T, options?: PublishEventOptions): Promise<BrokerEvent<T>>;
  publishAsync<C extends EventContract>(event: ContractEventInput<C>): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publishAsync<T>(event: CreateEventInput<T>): Promise<BrokerEvent<T>>;
  publishAsync<T>(typeOrEvent: TypeOrEvent<T>, payload?: T, options?: PublishEventOptions): Promise<BrokerEvent<T>> {
    return this.send('async', this.toInput(typeOrEvent, payload, options), options?.tx);
  }

  /** Resolves after this instance's handlers ran; rejects with a handler's error. */
  publishSync<C extends EventContract>(
    contract: C,
    payload: EventPayloadInput<C>,
    options?: PublishEventOptions,
  ): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publishSync<T>(type: string, payload: T, options?: PublishEventOptions): Promise<BrokerEvent<T>>;
  publishSync<C extends EventContract>(event: ContractEventInput<C>): Promise<BrokerEvent<EventPayloadInput<C>>>;
  publishSync<T>(event: CreateEventInput<T>): Promise<BrokerEvent<T>>;
  publishSync<T>(typeOrEvent: TypeOrEvent<T>, payload?: T, options?: PublishEventOptions): Promise<BrokerEvent<T>> {
    return this.send('sync', this.toInput(typeOrEvent, payload, options));
  }

  /** Publishes what was held before bootstrap; from now on events go straight to the broker. */
  async release(): Promise<void> {
    const held = this.held ?? [];
    this.held = undefined;
    for (const { event, mode } of held) {
      try {
        await this.send(mode, event);
      } catch (error) {
        this.logger.error(`Event ${event.id} (${event.type}) published before bootstrap failed: ${errorMessage(error)}`);
      }
    }
  }

  /** The number of events still held (published before bootstrap). */
  get heldCount(): number {
    return this.held?.length ?? 0;
  }

  /** A running broker checks a contract's payload itself, counting the check as part of the publish. */
  private send<T>(mode: PublishMode, given: AnyEventInput<T>, tx?: TransactionClient): Promise<BrokerEvent<T>> {
    if (this.held && !this.broker.running) return this.hold(mode, given, tx);
    // The broker takes either form of input; its overloads only tell them apart for inference.
    const input = given as CreateEventInput<T>;
    if (tx) return this.broker.publishAsync(input, { tx });
    return mode === 'sync' ? this.broker.publishSync(input) : this.broker.publishAsync(input);
  }

  /** Checks a contract's payload first, so that an event held before bootstrap was checked too. */
  private async hold<T>(mode: PublishMode, given: AnyEventInput<T>, tx?: TransactionClient): Promise<BrokerEvent<T>> {
    const input = await resolveContract<T>(given);
    if (!this.held || this.broker.running) return this.send(mode, input, tx);
    if (tx) throw new BrokerStateError(`Cannot publish ${input.type} in a transaction before the application has bootstrapped`);
    const event = this.broker.createEvent(input);
    this.held.push({ event, mode });
    return event;
  }

  private toInput<T>(typeOrEvent: TypeOrEvent<T>, payload: T | undefined, options: PublishEventOptions = {}): AnyEventInput<T> {
    const context = EventRequestContext.current();
    const { source, userId, sessionId, key, metadata, id } = options;
    const input: AnyEventInput<T> =
      typeof typeOrEvent === 'string' || isEventContract(typeOrEvent)
        ? { source, userId, sessionId, key, metadata, id, type: typeOrEvent, payload: payload as T }
        : typeOrEvent;
    return { ...input, userId: input.userId ?? context?.userId, sessionId: input.sessionId ?? context?.sessionId };
  }
}
