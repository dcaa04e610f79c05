import { Logger } from '@nestjs/common';
import type { BrokerLogger, LogContext } from '../core/broker-logger.interface.js';

function format(message: string, context?: LogContext): string {
  if (!context) return message;
  const fields = Object.entries(context)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${String(value)}`);
  return fields.length > 0 ? `${message} (${fields.join(' ')})` : message;
}

/** Writes the broker's log lines through Nest's `Logger`, under the context `EventBroker`. */
export class NestBrokerLogger implements BrokerLogger {
  private readonly logger = new Logger('EventBroker');

  log(message: string, context?: LogContext): void {
    this.logger.log(format(message, context));
  }

  warn(message: string, context?: LogContext): void {
    this.logger.warn(format(message, context));
  }

  error(message: string, context?: LogContext): void {
    this.logger.error(format(message, context));
  }
}
