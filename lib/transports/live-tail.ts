import { EventBrokerError } from '../core/event-broker.errors.js';
import { FifoQueue } from '../core/fifo-queue.js';

export const DEFAULT_LIVE_TAIL_BUFFER = 1000;

interface Reader<T> {
  resolve: (result: IteratorResult<T>) => void;
  reject: (error: Error) => void;
}

/**
 * A push source read as an `AsyncIterable`. A reader that falls more than `bufferSize` items
 * behind gets an error instead of a silent gap.
 */
export class LiveTail<T> implements AsyncIterableIterator<T> {
  private readonly buffer = new FifoQueue<T>();
  private readonly readers = new FifoQueue<Reader<T>>();
  /** The error the next read rejects with, when no reader was waiting as it happened. */
  private failure?: Error;
  private ended = false;

  constructor(
    private readonly onClose: () => void,
    private readonly bufferSize = DEFAULT_LIVE_TAIL_BUFFER,
  ) {}

  push(item: T): void {
    if (this.ended) return;
    const reader = this.readers.shift();
    if (reader) {
      reader.resolve({ value: item, done: false });
    } else if (this.buffer.length >= this.bufferSize) {
      this.fail(new EventBrokerError(`Live tail fell more than ${this.bufferSize} events behind and was closed`));
    } else {
      this.buffer.push(item);
    }
  }

  fail(error: Error): void {
    if (this.ended) return;
    this.finish();
    const reader = this.readers.shift();
    if (reader) reader.reject(error);
    else this.failure = error;
    this.releaseReaders();
  }

  end(): void {
    if (this.ended) return;
    this.finish();
    this.releaseReaders();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift() as T, done: false });
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    while (this.buffer.shift() !== undefined);
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

  private releaseReaders(): void {
    for (let reader = this.readers.shift(); reader; reader = this.readers.shift()) reader.resolve({ value: undefined, done: true });
  }
}
