/** Fields that say which event, group and attempt a log line is about. Never the payload. */
export type LogContext = Record<string, string | number | boolean | undefined>;

/** Where the broker writes what happens to events; the Nest module passes Nest's `Logger`. */
export interface BrokerLogger {
  log(message: string, context?: LogContext): void;
  warn(message: string, context?: LogContext): void;
  error(message: string, context?: LogContext): void;
}

/** The logger of a broker built without one: one line per message on the console. */
export const consoleBrokerLogger: BrokerLogger = {
  log: (message, context) => console.log(`[EventBroker] ${message}`, context ?? ''),
  warn: (message, context) => console.warn(`[EventBroker] ${message}`, context ?? ''),
  error: (message, context) => console.error(`[EventBroker] ${message}`, context ?? ''),
};
