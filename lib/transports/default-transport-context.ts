import { consoleBrokerLogger } from '../core/broker-logger.interface.js';
import type { TransportContext } from '../core/event-transport.interface.js';

/** What a transport connected on its own, without a broker, works with: the console for its logs. */
export const DEFAULT_TRANSPORT_CONTEXT: TransportContext = { logger: consoleBrokerLogger };
