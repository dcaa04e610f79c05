import { Injectable } from '@nestjs/common';
import { withTimeout } from '../core/async-primitives.js';
import { EventBroker } from '../core/event-broker.js';
import type { TransportStats } from '../core/event-transport.interface.js';

export interface EventBrokerHealthOptions {
  /** More dead letters than this make the broker unhealthy (default: no limit). */
  maxDeadLetters?: number;
  /** How long the transport may take to answer (default 2000 ms). */
  timeoutMs?: number;
}

export interface EventBrokerHealthDetails {
  status: 'up' | 'down';
  transport: string;
  running: boolean;
  reachable: boolean;
  subscriptions: number;
  deadLetters?: number;
  reason?: string;
}

/**
 * A health indicator in the shape `@nestjs/terminus` expects (`{ [key]: { status, ...details } }`):
 * down when the broker is not running, its transport does not answer, or it holds more dead
 * letters than allowed. `health.check([() => indicator.isHealthy('eventBroker')])`.
 */
@Injectable()
export class EventBrokerHealthIndicator {
  constructor(private readonly broker: EventBroker) {}

  async isHealthy(key = 'eventBroker', options: EventBrokerHealthOptions = {}): Promise<Record<string, EventBrokerHealthDetails>> {
    const timeoutMs = options.timeoutMs ?? 2000;
    const details: EventBrokerHealthDetails = {
      status: 'up',
      transport: this.broker.transport.type,
      running: this.broker.running,
      reachable: false,
      subscriptions: 0,
    };
    let stats: TransportStats | undefined;
    const answered = this.broker.running
      ? await withTimeout(
          this.broker.stats().then((broker) => {
            stats = broker.transport;
            details.subscriptions = broker.activeSubscribers;
          }),
          timeoutMs,
        ).catch(() => false)
      : false;
    details.reachable = answered && stats !== undefined;
    if (stats) details.deadLetters = stats.deadLetters;
    if (!details.running) details.reason = 'the broker is not running';
    else if (!details.reachable) details.reason = `the ${details.transport} transport did not answer within ${timeoutMs} ms`;
    else if (options.maxDeadLetters !== undefined && (details.deadLetters ?? 0) > options.maxDeadLetters) {
      details.reason = `${details.deadLetters} dead letters, more than ${options.maxDeadLetters}`;
    }
    if (details.reason) details.status = 'down';
    return { [key]: details };
  }
}
