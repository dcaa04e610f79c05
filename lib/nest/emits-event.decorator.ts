import { errorMessage } from '../core/error-message.js';
import { Logger } from '@nestjs/common';
import type { EventMetadata, EventSource } from '../core/broker-event.interface.js';
import { describeInvalidEventType } from '../core/event-type.js';
import { InvalidEventError } from '../core/event-broker.errors.js';
import { EMITS_EVENT_METADATA, EMITTED_EVENTS_METADATA } from './event-broker.constants.js';
import type { EventPublisher } from './event-publisher.js';
import { assertKnownOptions, type OptionNames } from '../core/known-options.js';

export interface EmitsEventOptions {
  /** The payload to publish; defaults to the method's result. */
  payload?: (result: unknown, args: unknown[]) => unknown;
  /** Defaults to `'database'`: the hook stands for a CRUD operation. */
  source?: EventSource;
  metadata?: EventMetadata;
  /** The event's key (what it is partitioned and ordered by), from the method's result and arguments. */
  key?: (result: unknown, args: unknown[]) => string;
}

const EMITS_EVENT_OPTION_NAMES: OptionNames<EmitsEventOptions> = { payload: true, source: true, metadata: true, key: true };

/** Where `@EmitsEvent` finds the publisher of the application that owns an instance. */
export const EVENT_PUBLISHER_REF = Symbol('nestjs-event-broker:publisher');

interface PublisherHolder {
  [EVENT_PUBLISHER_REF]?: EventPublisher;
}

const logger = new Logger('EmitsEvent');

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** The event types the `@EmitsEvent` decorators of `method` publish, top one first. */
export function emittedEvents(method: object): readonly string[] {
  return (Reflect.getMetadata(EMITTED_EVENTS_METADATA, method) as string[] | undefined) ?? [];
}

function copyMetadata(from: object, to: object): void {
  for (const key of Reflect.getOwnMetadataKeys(from)) Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, from), to);
}

/**
 * Publishes `type` once the method has returned (or its promise resolved), with the result as the
 * payload and the request's user and session. The publish never delays or fails the call; a
 * method that throws publishes nothing.
 */
export function EmitsEvent(type: string, options: EmitsEventOptions = {}): MethodDecorator {
  return (target, key, descriptor) => {
    const where = `@EmitsEvent on ${target.constructor.name}.${String(key)}`;
    assertKnownOptions(where, options, EMITS_EVENT_OPTION_NAMES);
    const problem = describeInvalidEventType(type);
    if (problem) throw new InvalidEventError(`${where}: invalid event type: ${problem}`);
    const original = descriptor.value as unknown;
    if (typeof original !== 'function') throw new InvalidEventError(`${where}: can only decorate a method`);

    const fail = (error: unknown): void => logger.error(`${where}: could not publish: ${errorMessage(error)}`);

    const emit = (holder: PublisherHolder, result: unknown, args: unknown[]): void => {
      const publisher = holder[EVENT_PUBLISHER_REF];
      if (!publisher) {
        logger.warn(`${where}: no EventPublisher found; is EventBrokerModule imported and the class a provider or controller?`);
        return;
      }
      try {
        const payload = options.payload ? options.payload(result, args) : result;
        const eventKey = options.key?.(result, args);
        publisher
          .publish(type, payload ?? null, { source: options.source ?? 'database', metadata: options.metadata, key: eventKey })
          .catch(fail);
      } catch (error) {
        fail(error);
      }
    };

    const wrapped = function (this: PublisherHolder, ...args: unknown[]): unknown {
      const result: unknown = (original as (...params: unknown[]) => unknown).apply(this, args);
      if (isPromiseLike(result)) {
        return Promise.resolve(result).then((value) => {
          emit(this, value, args);
          return value;
        });
      }
      emit(this, result, args);
      return result;
    };
    copyMetadata(original, wrapped);
    // Decorators apply bottom up: this one goes before those applied already.
    Reflect.defineMetadata(EMITTED_EVENTS_METADATA, [type, ...emittedEvents(original)], wrapped);
    Object.defineProperty(wrapped, 'name', { value: (original as () => unknown).name });
    Reflect.defineMetadata(EMITS_EVENT_METADATA, true, target.constructor);
    return { ...descriptor, value: wrapped } as typeof descriptor;
  };
}
