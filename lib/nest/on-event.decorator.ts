import { SetMetadata } from '@nestjs/common';
import type { SubscribeOptions } from '../core/subscription.interface.js';
import { EVENT_ARGS_METADATA, ON_EVENT_METADATA } from './event-broker.constants.js';
import { EVENT_PARAM } from './event-params.factory.js';

export type OnEventOptions = SubscribeOptions;

export interface OnEventMetadata {
  patterns: string[];
  options: OnEventOptions;
}

/**
 * Runs the method for every event whose type matches `pattern` (or one of them): `*` stands for
 * one segment, a trailing `**` for one or more. The method receives the `BrokerEvent`.
 * The default group is `<serviceName>.<ClassName>.<method>`.
 */
export function OnEvent(pattern: string | string[], options: OnEventOptions = {}): MethodDecorator {
  const metadata: OnEventMetadata = { patterns: typeof pattern === 'string' ? [pattern] : [...pattern], options };
  const setOnEvent = SetMetadata(ON_EVENT_METADATA, metadata);
  return (target, key, descriptor) => {
    Reflect.defineMetadata(
      EVENT_ARGS_METADATA,
      { [`${EVENT_PARAM}:0`]: { index: 0, data: undefined, pipes: [] } },
      target.constructor,
      key,
    );
    return setOnEvent(target, key, descriptor);
  };
}
