/** Where one group's delivery of an event stands, while it has not settled for good. */
export interface DeliveryProgress {
  group: string;
  /** The attempt handed out last (1 for the first delivery). */
  attempt: number;
  state: 'in flight' | 'waiting for a retry';
  /** Why the last attempt failed, once the delivery waits for a retry. */
  lastError?: string;
}
