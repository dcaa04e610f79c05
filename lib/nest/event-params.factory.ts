import type { ParamsFactory } from '@nestjs/core';

/** The one parameter an event handler gets: the event itself. */
export const EVENT_PARAM = 0;

export class EventParamsFactory implements ParamsFactory {
  exchangeKeyForValue(type: number, _data: unknown, args: unknown[]): unknown {
    return type === EVENT_PARAM ? args[0] : undefined;
  }
}
