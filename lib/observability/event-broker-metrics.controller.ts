import { Controller, Get, Header, Inject, Optional } from '@nestjs/common';
import { register as defaultRegistry } from 'prom-client';
import { EventBrokerMetrics } from './event-broker-metrics.js';

/**
 * `GET /metrics` in the Prometheus text format, for apps that do not expose their registry yet:
 * add it to a module's `controllers`.
 */
@Controller()
export class EventBrokerMetricsController {
  constructor(@Optional() @Inject(EventBrokerMetrics) private readonly metrics?: EventBrokerMetrics | null) {}

  @Get('metrics')
  @Header('Content-Type', defaultRegistry.contentType)
  scrape(): Promise<string> {
    return (this.metrics?.registry ?? defaultRegistry).metrics();
  }
}
