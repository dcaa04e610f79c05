import { Body, Get, Header, HttpCode, NotFoundException, Param, Post, Query, Sse, UseFilters, type MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import type { BrokerEvent } from '../core/broker-event.interface.js';
import type { DeadLetter } from '../core/dead-letter-store.interface.js';
import { errorMessage } from '../core/error-message.js';
import { EventBroker, type BrokerStats } from '../core/event-broker.js';
import { traceIdOf } from '../observability/trace-id.js';
import { DETAIL_DEAD_LETTER_SCAN } from './dashboard.constants.js';
import { DashboardErrorsFilter } from './dashboard-errors.filter.js';
import { DASHBOARD_CONTENT_SECURITY_POLICY, DASHBOARD_PAGE } from './dashboard-page.js';
import { deadLetterFilter, historyFilter, replayIds, tailPattern, type DashboardQuery } from './dashboard-query.js';
import type { DashboardEventDetail, DashboardReplayResult } from './dashboard-responses.interface.js';

/**
 * The page and its API. Not a controller itself: `dashboardController` derives one per
 * `forRoot`, with the path and guards of that call.
 */
@UseFilters(DashboardErrorsFilter)
export class DashboardRoutes {
  constructor(private readonly broker: EventBroker) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', DASHBOARD_CONTENT_SECURITY_POLICY)
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-store')
  page(): string {
    return DASHBOARD_PAGE;
  }

  /** The history, with `list`'s filters: `?type=&source=&status=&instanceId=&userId=&since=&until=&limit=&offset=`. */
  @Get('api/events')
  events(@Query() query: DashboardQuery): Promise<BrokerEvent[]> {
    return this.broker.transport.list(historyFilter(query));
  }

  @Get('api/events/:id')
  async event(@Param('id') id: string): Promise<DashboardEventDetail> {
    const event = await this.broker.transport.get(id);
    if (!event) throw new NotFoundException(`Event ${id} not found`);
    // The store finds dead letters by group, not by event: this event's are looked for among the newest.
    const deadLetters = (await this.broker.transport.deadLetters({ limit: DETAIL_DEAD_LETTER_SCAN }))
      .filter((letter) => letter.event.id === id)
      .map(({ event: _event, ...letter }) => letter);
    return { event, traceId: traceIdOf(event.metadata) ?? null, deadLetters };
  }

  @Get('api/dead-letters')
  deadLetters(@Query() query: DashboardQuery): Promise<DeadLetter[]> {
    return this.broker.transport.deadLetters(deadLetterFilter(query));
  }

  /** Replays each dead letter of `{ "ids": [...] }` in turn; one that fails does not stop the others. */
  @Post('api/dead-letters/replay')
  @HttpCode(200)
  async replay(@Body() body: unknown): Promise<DashboardReplayResult> {
    const result: DashboardReplayResult = { replayed: [], failed: [] };
    for (const id of replayIds(body)) {
      try {
        await this.broker.transport.replay(id);
        result.replayed.push(id);
      } catch (error) {
        result.failed.push({ id, error: errorMessage(error) });
      }
    }
    return result;
  }

  /** The broker's totals and the transport's per-group counters. */
  @Get('api/stats')
  stats(): Promise<BrokerStats> {
    return this.broker.stats();
  }

  /** Server-Sent Events: each event published from now on whose type matches `pattern` (default: all). */
  @Sse('api/stream')
  stream(@Query() query: DashboardQuery): Observable<MessageEvent> {
    // Opened before the response starts, so that an invalid pattern is answered 400 rather than as an empty stream.
    const tail = this.broker.transport.stream(tailPattern(query))[Symbol.asyncIterator]();
    return new Observable((subscriber) => {
      void (async () => {
        try {
          for (let next = await tail.next(); !next.done; next = await tail.next()) subscriber.next({ data: next.value });
          subscriber.complete();
        } catch (error) {
          subscriber.error(error);
        }
      })();
      return () => void tail.return?.();
    });
  }
}
