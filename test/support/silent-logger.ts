import type { BrokerLogger, LogContext } from '../../lib/index.js';

/** A logger that keeps what it is told, so tests stay quiet and can check what was logged. */
export class RecordingLogger implements BrokerLogger {
  readonly lines: { level: 'log' | 'warn' | 'error'; message: string; context?: LogContext }[] = [];

  log(message: string, context?: LogContext): void {
    this.lines.push({ level: 'log', message, context });
  }

  warn(message: string, context?: LogContext): void {
    this.lines.push({ level: 'warn', message, context });
  }

  error(message: string, context?: LogContext): void {
    this.lines.push({ level: 'error', message, context });
  }
}
