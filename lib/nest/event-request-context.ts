import { AsyncLocalStorage } from 'node:async_hooks';

/** Who is acting: stamped on every event published while it is active. */
export interface EventRequestContextValue {
  userId?: string | number;
  sessionId?: string;
}

const storage = new AsyncLocalStorage<EventRequestContextValue>();

/**
 * The user and session of the work in progress (an HTTP request, an event being handled), read by
 * `EventPublisher` and `@EmitsEvent`.
 */
export const EventRequestContext = {
  /** Runs `fn` with `value` as the current context. */
  run<R>(value: EventRequestContextValue, fn: () => R): R {
    return storage.run(value, fn);
  },
  current(): EventRequestContextValue | undefined {
    return storage.getStore();
  },
};
