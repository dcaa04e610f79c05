import type { JsMsg, NatsConnection } from 'nats';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { DeliveryRecord } from './nats-progress-record.interface.js';
import type { NatsPosition, NatsSubjects } from './nats-subjects.js';

/** Per partition, per group: the numbers of one record. */
type Gathered = Map<number, Map<string, number[]>>;

/**
 * The acks of this process and their bookkeeping, batched: the acks of the deliveries settled in
 * one turn of the event loop go out together, in one write to the socket, with one record on the
 * progress stream of what was handed out and acked in that turn (a plain publish, like the
 * acks; one per partition, on its subject), not a write per event. A record lost with its connection is not written again: the
 * status never depends on it.
 */
export class NatsProgress {
  private started: Gathered = new Map();
  private acked: Gathered = new Map();
  private acks: JsMsg[] = [];
  private written: (() => void)[] = [];
  private scheduled = false;

  constructor(
    private readonly connection: NatsConnection,
    private readonly subjects: NatsSubjects,
    private readonly logger: BrokerLogger,
  ) {}

  /** A delivery of the event at `position` to `group` was handed out, as its `attempt`th attempt. */
  start(group: string, position: NatsPosition, attempt: number): void {
    this.add(this.started, group, position.partition, position.seq, attempt);
  }

  /** Acks `message` (when there is one: not for a delivery the publisher handled inline) for `group`, which handled the event at `position`. */
  ack(group: string, position: NatsPosition, message?: JsMsg): Promise<void> {
    if (message) this.acks.push(message);
    this.add(this.acked, group, position.partition, position.seq);
    return new Promise((resolve) => this.written.push(resolve));
  }

  /** Writes what is gathered now (at close). */
  flush(): void {
    this.write();
  }

  private add(records: Gathered, group: string, partition: number, ...numbers: number[]): void {
    let groups = records.get(partition);
    if (!groups) records.set(partition, (groups = new Map()));
    const list = groups.get(group);
    if (list) list.push(...numbers);
    else groups.set(group, numbers);
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
      for (const partition of new Set([...started.keys(), ...acked.keys()])) {
        const record: DeliveryRecord = { t };
        const startedIn = started.get(partition);
        const ackedIn = acked.get(partition);
        if (startedIn) record.started = Object.fromEntries(startedIn);
        if (ackedIn) record.acked = Object.fromEntries(ackedIn);
        this.connection.publish(this.subjects.progressOf('deliveries', partition), JSON.stringify(record));
      }
    } catch (error) {
      this.logger.warn(`Could not write ${acks.length} acks and their progress record: ${errorMessage(error)}`);
    }
    // The acks are written (or lost with the connection, to be delivered again): their deliveries are settled.
    for (const settled of written) settled();
  }
}
