import { consumerOpts, ErrorCode, type JetStreamClient, type JetStreamPullSubscription, type JsMsg, type NatsError } from 'nats';
import { Signal } from '../../core/async-primitives.js';
import { FifoQueue } from '../../core/fifo-queue.js';

/** How long past a pull's expiry its end may be awaited before it counts as lost (a server restart, say). */
const LOST_PULL_GRACE_MS = 1000;

/** What ends a pull before its batch came: it expired, or an error the take reports. */
interface PullEnd {
  ended: true;
  error?: NatsError;
}

/**
 * One subscription to a durable pull consumer, kept for the consumer's life: each take asks for
 * a batch on it. (nats.js's `consumer.fetch()` subscribes and unsubscribes a new inbox for every
 * batch, which cost the server and this process more than the messages themselves; this is its
 * `pullSubscribe`, whose pulls share one inbox.)
 */
export class NatsPullSubscription {
  private readonly arrived = new FifoQueue<JsMsg | PullEnd>();
  private readonly arrival = new Signal();
  private subscription?: JetStreamPullSubscription;

  /** Binds to the durable consumer `durable` of `stream`, whose filter is `filterSubject`. */
  async open(js: JetStreamClient, stream: string, durable: string, filterSubject: string): Promise<void> {
    const options = consumerOpts();
    options.bind(stream, durable);
    options.manualAck();
    options.callback((error, message) => {
      this.arrived.push(message ?? { ended: true, error: error && !isPullEnd(error) ? error : undefined });
      this.arrival.notify();
    });
    this.subscription = await js.pullSubscribe(filterSubject, options);
  }

  /**
   * Asks for `count` messages and hands each to `onMessage` as it comes, until `count` came, the
   * pull expired (after `expiresMs`) or `abort` aborted.
   */
  async take(count: number, expiresMs: number, abort: AbortSignal, onMessage: (message: JsMsg) => Promise<void>): Promise<void> {
    this.subscription?.pull({ batch: count, expires: expiresMs });
    const deadline = Date.now() + expiresMs + LOST_PULL_GRACE_MS;
    for (let taken = 0; taken < count && !abort.aborted;) {
      const next = this.arrived.shift();
      if (next === undefined) {
        const left = deadline - Date.now();
        if (left <= 0) return;
        await this.arrival.wait(abort, left);
      } else if ('ended' in next) {
        if (next.error) throw next.error;
        return;
      } else {
        taken++;
        await onMessage(next);
      }
    }
  }

  /** Ends the subscription; returns the messages that came and were not taken. */
  close(): JsMsg[] {
    this.subscription?.unsubscribe();
    this.arrival.notify();
    const left: JsMsg[] = [];
    for (let next = this.arrived.shift(); next !== undefined; next = this.arrived.shift()) if (!('ended' in next)) left.push(next);
    return left;
  }
}

/** A pull that expired, or found nothing: the ordinary end of a pull, not a failure. */
function isPullEnd(error: NatsError): boolean {
  return error.code === ErrorCode.JetStream408RequestTimeout || error.code === ErrorCode.JetStream404NoMessages;
}
