import type { NatsConnection } from 'nats';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { errorMessage } from '../../core/error-message.js';
import type { DeliveryRecord } from './nats-progress-record.interface.js';
import type { NatsSubjects } from './nats-subjects.js';

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The hot path's bookkeeping: what the consumers of this process handed out and acked in one
 * turn of the event loop becomes one record of each kind on the progress stream (a plain
 * publish, in the same write to the socket as the acks), not a write per event. An ack resolves
 * once the server has had it: a ping after the turn's acks and records, shared by all of them.
 */
export class NatsProgress {
  private started = new Map<string, number[]>();
  private acked = new Map<string, number[]>();
  private waiters: Waiter[] = [];
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

  /** `group` acked the event at `seq` (its message was acked just before). */
  ack(group: string, seq: number): Promise<void> {
    this.add(this.acked, group, seq);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Writes what is gathered now (at close). */
  async flush(): Promise<void> {
    await this.write();
  }

  private add(records: Map<string, number[]>, group: string, ...numbers: number[]): void {
    const list = records.get(group);
    if (list) list.push(...numbers);
    else records.set(group, numbers);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.write());
  }

  private async write(): Promise<void> {
    this.scheduled = false;
    const { started, acked, waiters } = this;
    this.started = new Map();
    this.acked = new Map();
    this.waiters = [];
    const t = Date.now();
    try {
      if (started.size > 0) this.publish('started', { t, g: Object.fromEntries(started) });
      if (acked.size > 0) this.publish('acked', { t, g: Object.fromEntries(acked) });
      if (waiters.length > 0) await this.connection.flush();
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      for (const waiter of waiters) waiter.reject(error);
      if (waiters.length === 0) this.logger.warn(`Could not record the deliveries handed out: ${errorMessage(error)}`);
    }
  }

  private publish(kind: 'started' | 'acked', record: DeliveryRecord): void {
    this.connection.publish(this.subjects.progressOf(kind), JSON.stringify(record));
  }
}
