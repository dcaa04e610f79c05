import type { JsMsg, NatsConnection } from 'nats';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { DeliveryRecord } from './nats-progress-record.interface.js';
import type { NatsSubjects } from './nats-subjects.js';

/**
 * The acks of this process and their bookkeeping, batched: the acks of the deliveries settled in
 * one turn of the event loop go out together, in one write to the socket, with one record on the
 * progress stream of what was handed out and acked in that turn (a plain publish, like the
 * acks), not a write per event. A record lost with its connection is not written again: the
 * status never depends on it.
 */
export class NatsProgress {
  private started = new Map<string, number[]>();
  private acked = new Map<string, number[]>();
  private acks: JsMsg[] = [];
  private written: (() => void)[] = [];
  private scheduled = false;

  constructor(
    private readonly connection: NatsConnection,
    private readonly subjects: NatsSubjects,
    private readonly logger: BrokerLogger,
  ) {}

  /** A delivery of the event at `seq` to `group` was handed out, as its `attempt`th attempt. */
  start(group: string, seq: number, attempt: number): void {
    this.add(this.started, group, seq, attempt);
  }

  /** Acks `message` (when there is one: not for a delivery the publisher handled inline) for `group`, which handled the event at `seq`. */
  ack(group: string, seq: number, message?: JsMsg): Promise<void> {
    if (message) this.acks.push(message);
    this.add(this.acked, group, seq);
    return new Promise((resolve) => this.written.push(resolve));
  }

  /** Writes what is gathered now (at close). */
  flush(): void {
    this.write();
  }

  private add(records: Map<string, number[]>, group: string, ...numbers: number[]): void {
    const list = records.get(group);
    if (list) list.push(...numbers);
    else records.set(group, numbers);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.write());
  }

  private write(): void {
    this.scheduled = false;
    const { started, acked, acks, written } = this;
    if (started.size === 0 && acked.size === 0) return;
    this.started = new Map();
    this.acked = new Map();
    this.acks = [];
    this.written = [];
    const t = Date.now();
    try {
      for (const message of acks) message.ack();
      const record: DeliveryRecord = { t };
      if (started.size > 0) record.started = Object.fromEntries(started);
      if (acked.size > 0) record.acked = Object.fromEntries(acked);
      this.connection.publish(this.subjects.progressOf('deliveries'), JSON.stringify(record));
    } catch (error) {
      this.logger.warn(`Could not write ${acks.length} acks and their progress record: ${errorMessage(error)}`);
    }
    // The acks are written (or lost with the connection, to be delivered again): their deliveries are settled.
    for (const settled of written) settled();
  }
}
