import { EXCEPTION_FILTERS_METADATA, GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA } from '@nestjs/common/constants.js';
import type { ApplicationConfig } from '@nestjs/core';
import { isObservable, lastValueFrom } from 'rxjs';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import { EVENT_ARGS_METADATA } from './event-broker.constants.js';
import { EVENT_PARAM } from './event-params.factory.js';

const ENHANCER_KEYS = [GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA, EXCEPTION_FILTERS_METADATA];

/** The parameter metadata `@OnEvent` gives a method: the event, at index 0, without pipes. */
interface EventParamMetadata {
  index: number;
  pipes?: unknown[];
}

function onlyTheEvent(metadata: Record<string, EventParamMetadata> | undefined): boolean {
  if (metadata === undefined) return false;
  const entries = Object.entries(metadata);
  return (
    entries.length === 1 && entries[0][0] === `${EVENT_PARAM}:0` && entries[0][1].index === 0 && (entries[0][1].pipes ?? []).length === 0
  );
}

/**
 * Whether Nest's enhancer pipeline would run nothing around `method`: no guard, interceptor, pipe
 * or filter in the event handlers' configuration (the module's interceptors, tracing, metrics,
 * the app's global enhancers when applied), on any class the host may be known by, or on the
 * method, and the event as its one parameter. Anything else found goes through the pipeline.
 */
export function runsWithoutEnhancers(config: ApplicationConfig, classes: readonly object[], method: object, name: string): boolean {
  const global = [
    config.getGlobalGuards(),
    config.getGlobalInterceptors(),
    config.getGlobalPipes(),
    config.getGlobalFilters(),
    config.getGlobalRequestGuards(),
    config.getGlobalRequestInterceptors(),
    config.getGlobalRequestPipes(),
    config.getGlobalRequestFilters(),
  ];
  if (global.some((enhancers) => enhancers.length > 0)) return false;
  for (const target of [...classes, method]) {
    for (const key of ENHANCER_KEYS) {
      const enhancers = Reflect.getMetadata(key, target) as unknown[] | undefined;
      if (enhancers !== undefined && enhancers.length > 0) return false;
    }
  }
  return classes.every((target) =>
    onlyTheEvent(Reflect.getMetadata(EVENT_ARGS_METADATA, target, name) as Record<string, EventParamMetadata>),
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/** What Nest's pipeline makes of a handler's result: an Observable's last value is waited for. */
function settledValue(result: unknown): unknown {
  return isObservable(result) ? lastValueFrom(result) : result;
}

/**
 * Calls `method` on `instance` as Nest's pipeline does when it has nothing to run (the event alone,
 * an Observable's last value waited for, also when a promise resolves to one), without the layers
 * of promises it would add per call.
 */
export function enhancerFreeHandler(instance: object, method: (event: BrokerEvent) => unknown): (event: BrokerEvent) => unknown {
  return (event) => {
    const result = method.call(instance, event);
    return isThenable(result) ? Promise.resolve(result).then(settledValue) : settledValue(result);
  };
}
