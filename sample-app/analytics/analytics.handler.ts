import { Controller, Get, Injectable } from '@nestjs/common';
import { OnEvent, type BrokerEvent } from 'nestjs-event-broker';

/** Counts user operations, by operation. */
@Injectable()
export class AnalyticsCounter {
  readonly counts: Record<string, number> = {};

  @OnEvent('public.users.*')
  count(event: BrokerEvent): void {
    const operation = event.operation ?? 'unknown';
    this.counts[operation] = (this.counts[operation] ?? 0) + 1;
  }
}

@Controller('analytics')
export class AnalyticsController {
  constructor(private readonly analytics: AnalyticsCounter) {}

  /** The counts this instance made (each instance counts the events its group share brought it). */
  @Get()
  counts(): Record<string, number> {
    return this.analytics.counts;
  }
}
