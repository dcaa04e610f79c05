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
  /**
   * Runs `fn` with `value` as the current context. An empty one where none is current changes
   * nothing, and is skipped: a first `run` makes Node track every promise of the process.
   */
  run<R>(value: EventRequestContextValue, fn: () => R): R {
    if (value.userId === undefined && value.sessionId === undefined && storage.getStore() === undefined) return fn();
    return storage.run(value, fn);
  },
  current(): EventRequestContextValue | undefined {
    return storage.getStore();
  },
};
