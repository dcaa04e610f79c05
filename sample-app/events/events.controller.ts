import { Controller, Get, NotFoundException, Param, Post, Query, Sse, type MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import { EventBroker, type BrokerEvent, type BrokerStats, type DeadLetter, type EventSource, type EventStatus } from 'nestjs-event-broker';

interface EventQuery {
  type?: string;
  source?: EventSource;
  status?: EventStatus;
  user?: string;
  since?: string;
  until?: string;
  limit?: string;
}

/** The broker's history, statistics and dead letters over HTTP. */
@Controller('events')
export class EventsController {
  constructor(private readonly broker: EventBroker) {}

  @Get()
  list(@Query() query: EventQuery): Promise<BrokerEvent[]> {
    return this.broker.transport.list({
      type: query.type,
      source: query.source,
      status: query.status,
      userId: query.user,
      since: query.since ? new Date(query.since) : undefined,
      until: query.until ? new Date(query.until) : undefined,
      limit: query.limit ? Number(query.limit) : undefined,
    });
  }

  @Get('stats')
  stats(): Promise<BrokerStats> {
    return this.broker.stats();
  }

  @Get('dead-letters')
  deadLetters(): Promise<DeadLetter[]> {
    return this.broker.transport.deadLetters();
  }

  @Post('dead-letters/:id/replay')
  async replay(@Param('id') id: string): Promise<{ replayed: string }> {
    await this.broker.transport.replay(id);
    return { replayed: id };
  }

  /** Server-Sent Events: every new event whose type matches `pattern` (default: all). */
  @Sse('stream')
  stream(@Query('pattern') pattern = '**'): Observable<MessageEvent> {
    return new Observable((subscriber) => {
      const tail = this.broker.transport.stream(pattern)[Symbol.asyncIterator]();
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

  @Get(':id')
  async get(@Param('id') id: string): Promise<BrokerEvent> {
    const event = await this.broker.transport.get(id);
    if (!event) throw new NotFoundException(`Event ${id} not found`);
    return event;
  }
}
