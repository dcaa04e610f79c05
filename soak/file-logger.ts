import { appendFileSync } from 'node:fs';
import type { BrokerLogger, LogContext } from 'nestjs-event-broker';

export type LogLevel = 'log' | 'warn' | 'error';

/** One line of a broker's log file. */
export interface LogLine {
  level: LogLevel;
  message: string;
  context?: LogContext;
  at: number;
}

/** A broker logger that appends each line to `path` as JSON, so the soak can count what brokers said. */
export function fileBrokerLogger(path: string): BrokerLogger {
  const write = (level: LogLevel, message: string, context?: LogContext): void => {
    const line: LogLine = { level, message, context, at: Date.now() };
    appendFileSync(path, `${JSON.stringify(line)}\n`);
  };
  return {
    log: (message, context) => write('log', message, context),
    warn: (message, context) => write('warn', message, context),
    error: (message, context) => write('error', message, context),
  };
}
