import type { EventTransport } from './event-transport.interface.js';
import type { BrokerEvent } from './broker-event.interface.js';
import type { BrokerLogger } from './broker-logger.interface.js';
import type { RetryOptions } from './retry-policy.js';

export type PublishMode = 'async' | 'sync';

/**
 * Runs around the transport's publish of a checked event (tracing, metrics): it may add metadata
 * before calling `publish`, and must call it exactly once.
 */
export type PublishInterceptor = (event: BrokerEvent, publish: () => Promise<void>, transport: string) => Promise<void>;

export interface EventBrokerOptions {
  transport: EventTransport;
  /** Names this process in every event it publishes (default `<hostname>-<pid>-<random>`). */
  instanceId?: string;
  /** Prefix of default group names: instances with the same name compete (default `app`). */
  serviceName?: string;
  /** `async` (default): publish resolves once stored. `sync`: it runs this instance's handlers first. */
  mode?: PublishMode;
  /** Handlers running at once on this instance (default 10). */
  workerCount?: number;
  /** Deliveries taken from the transport and not yet settled, at most (default 1000). */
  bufferSize?: number;
  /** Default retry policy of every subscription. */
  retry?: Partial<RetryOptions>;
  /** Largest payload accepted, in bytes of JSON (default 1 MiB). */
  maxPayloadBytes?: number;
  /** How long `stop` waits for accepted work to finish (default 10 000 ms). */
  shutdownTimeoutMs?: number;
  logger?: BrokerLogger;
  /** Run around every publish, the first outermost. */
  publishInterceptors?: PublishInterceptor[];
}
