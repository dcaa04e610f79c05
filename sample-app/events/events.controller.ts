import { Controller, Get, NotFoundException, Param, Post, Query, Sse, UseFilters, type MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import { EventBroker, type BrokerEvent, type BrokerStats, type DeadLetter, type EventFilter } from 'nestjs-event-broker';
import { BrokerErrorsFilter } from './broker-errors.filter.js';
import { EventFilterPipe } from './event-filter.pipe.js';

/** The broker's history, statistics and dead letters over HTTP. */
@Controller('events')
@UseFilters(BrokerErrorsFilter)
export class EventsController {
  constructor(private readonly broker: EventBroker) {}

  @Get()
  list(@Query(EventFilterPipe) filter: EventFilter): Promise<BrokerEvent[]> {
    return this.broker.transport.list(filter);
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
