import { EventBrokerError } from '../core/event-broker.errors.js';

export const DEFAULT_LIVE_TAIL_BUFFER = 1000;

/**
 * A push source read as an `AsyncIterable`. A reader that falls more than `bufferSize` items
 * behind gets an error instead of a silent gap.
 */
export class LiveTail<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private waiting?: { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void };
  private failure?: Error;
  private ended = false;

  constructor(
    private readonly onClose: () => void,
    private readonly bufferSize = DEFAULT_LIVE_TAIL_BUFFER,
  ) {}

  push(item: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve({ value: item, done: false });
      return;
    }
    if (this.buffer.length >= this.bufferSize) {
      this.fail(new EventBrokerError(`Live tail fell more than ${this.bufferSize} events behind and was closed`));
      return;
    }
    this.buffer.push(item);
  }

  fail(error: Error): void {
    if (this.ended) return;
    this.failure = error;
    this.finish();
    if (this.waiting) {
      const { reject } = this.waiting;
      this.waiting = undefined;
      reject(error);
    }
  }

  end(): void {
    if (this.ended) return;
    this.finish();
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift() as T, done: false });
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.buffer.length = 0;
    this.failure = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): void {
    this.ended = true;
    this.onClose();
  }
}
