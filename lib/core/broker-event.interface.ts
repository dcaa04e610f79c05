export const EVENT_SOURCES = ['database', 'websocket', 'frontend', 'system', 'internal'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export const EVENT_STATUSES = ['pending', 'processing', 'completed', 'failed'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export type EventMetadata = Record<string, string | number | boolean>;

export interface BrokerEvent<T = unknown> {
  /** UUID v4. */
  id: string;
  source: EventSource;
  /** Dot-separated segments, `schema.entity.operation` by convention. */
  type: string;
  status: EventStatus;
  /** A JSON value. */
  payload: T;
  userId?: string | number;
  sessionId?: string;
  /**
   * What the event is partitioned and ordered by: the events of one key are handled in publish
   * order by an ordered group. Events without one are partitioned by their id.
   */
  key?: string;
  /** The instance of the broker that published the event. */
  instanceId: string;
  /** Parsed from `type` when it has exactly three segments. */
  schema?: string;
  entity?: string;
  operation?: string;
  createdAt: Date;
  processedAt?: Date;
  completedAt?: Date;
  error?: string;
  metadata: EventMetadata;
  retryCount: number;
}
