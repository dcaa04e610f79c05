import type { EventContract, EventSelector } from '../core/event-contract.interface.js';
import type { RetryOptions } from '../core/retry-policy.js';
import type { AsyncApiServer } from './asyncapi-document.interface.js';

/** One subscription of a handler: a receive operation. */
export interface ReceiveOperationSource {
  /** Who handles it, such as `AuditLog.record`. */
  handler: string;
  group: string;
  /** Patterns, and contracts standing for their type. */
  selectors: readonly EventSelector[];
  /** The policy in force: the module's, with the handler's own over it. */
  retry: RetryOptions;
  concurrency?: number;
  fromBeginning?: boolean;
  ordered?: boolean;
}

/** An event type a method publishes: a send operation. */
export interface SendOperationSource {
  /** Who publishes it, such as `UsersService.create`. */
  publisher: string;
  /** The type, or the contract that gives the type and its payload's schema. */
  event: string | EventContract;
}

/** What the document describes: the operations of the application and what carries them. */
export interface AsyncApiSources {
  serviceName: string;
  receive: readonly ReceiveOperationSource[];
  send: readonly SendOperationSource[];
  /** The name of the transport (`memory`, `redis`, … or a transport's own `type`), for the description. */
  transport: string;
  /** The servers of the transport (none for the memory transport). */
  servers: Record<string, AsyncApiServer>;
}
