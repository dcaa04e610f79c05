import { consumerOpts, ErrorCode, type JetStreamClient, type JetStreamPullSubscription, type JsMsg, type NatsError } from 'nats';
import type { Signal } from '../../core/async-primitives.js';
import { FifoQueue } from '../../core/fifo-queue.js';

/** How long past a pull's expiry its end may be awaited before it counts as lost (a server restart, say). */
const LOST_PULL_GRACE_MS = 1000;

/** What ends a pull before its batch came: it expired, or an error the next take reports. */
interface PullEnd {
  ended: true;
  error?: NatsError;
}

/**
 * The pulls of one group from one partition's stream: a subscription to the group's durable
 * consumer on that stream, kept for the consumer's life, on which one pull at a time asks for a
 * batch. The messages come into a queue as the server sends them; the group's consumer takes
 * them from there and asks for the next batch once the pull ended (its batch came, or it expired).
 * (nats.js's `consumer.fetch()` subscribes and unsubscribes a new inbox for every batch, which
 * cost the server and this process more than the messages themselves; this is its
 * `pullSubscribe`, whose pulls share one inbox.)
 */
export class NatsPartitionPull {
  private readonly arrived = new FifoQueue<JsMsg | PullEnd>();
  private subscription?: JetStreamPullSubscription;
  /** How many messages the pull at the server may still send; 0 when none is waiting. */
  private outstanding = 0;
  /** When the waiting pull counts as lost if its end did not come. */
  private deadline = 0;
  /** Whether the last pull that ended brought its whole batch: the partition is busy (idle until a pull comes back full). */
  filled = false;

  constructor(
    /** The partition whose stream it reads. */
    readonly partition: number,
    /** That stream. */
    readonly stream: string,
    /** Notified whenever something came: shared by the pulls of one consumer, which waits on them all. */
    private readonly arrival: Signal,
  ) {}

  /** Binds to the durable consumer `durable` of the stream, whose filter is `filterSubject`. */
  async open(js: JetStreamClient, durable: string, filterSubject: string): Promise<void> {
    const options = consumerOpts();
    options.bind(this.stream, durable);
    options.manualAck();
    options.callback((error, message) => {
      this.arrived.push(message ?? { ended: true, error: error && !isPullEnd(error) ? error : undefined });
      this.arrival.notify();
    });
    this.subscription = await js.pullSubscribe(filterSubject, options);
  }

  /** How many messages the waiting pull may still send (0 once it ended, or is lost). */
  get waiting(): number {
    if (this.outstanding > 0 && Date.now() > this.deadline) this.outstanding = 0;
    return this.outstanding;
  }

  /** When the waiting pull counts as lost (ms since the epoch); 0 when none waits. */
  get waitsUntil(): number {
    return this.waiting > 0 ? this.deadline : 0;
  }

  /**
   * Asks for up to `batch` messages within `expiresMs`, or with `expiresMs` 0 for those there now
   * only (the pull ends at once when there are none); only when no pull is waiting.
   */
  request(batch: number, expiresMs: number): void {
    this.subscription?.pull(expiresMs === 0 ? { batch, no_wait: true } : { batch, expires: expiresMs });
    this.outstanding = batch;
    this.deadline = Date.now() + expiresMs + LOST_PULL_GRACE_MS;
  }

  /**
   * The next message that came; `undefined` when none is there, or when the pull ended (then
   * `waiting` is 0). Throws the error a pull ended with.
   */
  next(): JsMsg | undefined {
    const next = this.arrived.shift();
    if (next === undefined) return undefined;
    if ('ended' in next) {
      this.outstanding = 0;
      this.filled = false;
      if (next.error) throw next.error;
      return undefined;
    }
    this.outstanding = Math.max(0, this.outstanding - 1);
    if (this.outstanding === 0) this.filled = true;
    return next;
  }

  /** Whether something came that `next` has not returned. */
  get ready(): boolean {
    return this.arrived.length > 0;
  }

  /** The messages that came and `next` has not returned. */
  get queued(): JsMsg[] {
    return [...this.arrived].filter((next): next is JsMsg => !('ended' in next));
  }

  /** Ends the subscription; returns the messages that came and were not taken. */
  close(): JsMsg[] {
    this.subscription?.unsubscribe();
    this.outstanding = 0;
    const left: JsMsg[] = [];
    for (let next = this.arrived.shift(); next !== undefined; next = this.arrived.shift()) if (!('ended' in next)) left.push(next);
    return left;
  }
}

/** A pull that expired, or found nothing: the ordinary end of a pull, not a failure. */
function isPullEnd(error: NatsError): boolean {
  return error.code === ErrorCode.JetStream408RequestTimeout || error.code === ErrorCode.JetStream404NoMessages;
}
