import 'reflect-metadata';
import { AssertionError } from 'node:assert';
import { Injectable, type INestApplication, type OnModuleInit, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { defineEvent, EmitsEvent, EventBroker, EventPublisher, OnEvent, type BrokerEvent } from 'nestjs-event-broker';
import { EventBrokerTestingModule, TestEvents, WaitTimeoutError, type EventBrokerTestingOptions } from 'nestjs-event-broker/testing';
import { deferred } from '../support/wait-for.js';

const apps: INestApplication[] = [];

async function boot(providers: Type[], options?: EventBrokerTestingOptions): Promise<{ app: INestApplication; events: TestEvents }> {
  const moduleRef = await Test.createTestingModule({ imports: [EventBrokerTestingModule.forRoot(options)], providers }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  return { app, events: app.get(TestEvents) };
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

@Injectable()
class WelcomeMailer {
  readonly sent: string[] = [];

  @OnEvent('users.created')
  send(event: BrokerEvent<{ name: string }>): void {
    this.sent.push(event.payload.name);
  }
}

@Injectable()
class BrokenBilling {
  attempts = 0;

  @OnEvent('orders.placed')
  charge(): void {
    this.attempts++;
    throw new Error('card declined');
  }
}

@Injectable()
class FlakyIndexer {
  attempts = 0;

  @OnEvent('documents.saved')
  index(): void {
    this.attempts++;
    if (this.attempts === 1) throw new Error('index busy');
  }
}

const stuck = deferred();

@Injectable()
class StuckReporter {
  @OnEvent('reports.requested')
  async build(): Promise<void> {
    await stuck.promise;
  }
}

@Injectable()
class OrderShipper {
  constructor(private readonly publisher: EventPublisher) {}

  @OnEvent('orders.paid')
  async ship(event: BrokerEvent<{ orderId: number }>): Promise<void> {
    await this.publisher.publish('orders.shipped', { orderId: event.payload.orderId });
  }
}

@Injectable()
class UserService implements OnModuleInit {
  constructor(private readonly publisher: EventPublisher) {}

  async onModuleInit(): Promise<void> {
    await this.publisher.publish('system.started', { by: 'UserService' });
  }

  @EmitsEvent('users.renamed')
  rename(id: number, name: string): { id: number; name: string } {
    return { id, name };
  }
}

/** A schema that answers asynchronously, as one that looks something up does. */
const slowInvoiceSchema: StandardSchemaV1<{ total: number }> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: async (value) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { value: value as { total: number } };
    },
  },
};
const InvoiceIssued = defineEvent('invoices.issued', slowInvoiceSchema);

@Injectable()
class InvoiceArchive {
  readonly totals: number[] = [];

  @OnEvent(InvoiceIssued)
  archive(event: BrokerEvent<{ total: number }>): void {
    this.totals.push(event.payload.total);
  }
}

describe('the testing kit', () => {
  it('resolves waitFor with the completed event once its handler succeeded', async () => {
    const { app, events } = await boot([WelcomeMailer]);
    const event = await app.get(EventPublisher).publish('users.created', { name: 'Ada' });

    const done = await events.waitFor(event.id);

    expect(done.status).toBe('completed');
    expect(app.get(WelcomeMailer).sent).toEqual(['Ada']);
  });

  it('resolves waitFor with the failed event once a handler is dead-lettered, after fast retries', async () => {
    const { app, events } = await boot([BrokenBilling]);
    const started = Date.now();
    const event = await app.get(EventPublisher).publish('orders.placed', { orderId: 7 });

    const failed = await events.waitFor(event.id);

    expect(failed.status).toBe('failed');
    expect(failed.error).toBe('card declined');
    expect(app.get(BrokenBilling).attempts).toBe(4);
    expect(Date.now() - started).toBeLessThan(1000);
    const [deadLetter] = await app.get(EventBroker).transport.deadLetters();
    expect(deadLetter).toMatchObject({ group: 'app.BrokenBilling.charge', attempts: 4, error: 'card declined' });
  });

  it('fails a wait that times out with the pending event, its type and the group holding it', async () => {
    const { app, events } = await boot([StuckReporter]);
    const event = await app.get(EventPublisher).publish('reports.requested', { month: 5 });

    const waiting = events.waitFor(event.id, { timeoutMs: 50 });

    await expect(waiting).rejects.toThrow(WaitTimeoutError);
    await expect(waiting).rejects.toThrow(
      `Event ${event.id} (reports.requested) is still processing after 50 ms: group app.StuckReporter.build has attempt 1 in flight`,
    );
    await expect(events.waitForType('reports.monthly', { timeoutMs: 20 })).rejects.toThrow(
      'No event matching reports.monthly was published within 20 ms (published: reports.requested)',
    );
    await expect(events.drain({ timeoutMs: 20 })).rejects.toThrow(
      `Not drained after 20 ms: group app.StuckReporter.build has 0 queued or waiting for a retry and 1 in flight; event ${event.id} (reports.requested): group app.StuckReporter.build has attempt 1 in flight`,
    );
    stuck.resolve();
    await expect(events.waitFor(event.id)).resolves.toMatchObject({ status: 'completed' });
  });

  it('says when the event waited for was never published, or has left the history', async () => {
    const { app, events } = await boot([], { memory: { maxEvents: 1 } });
    await expect(events.waitFor('no-such-id', { timeoutMs: 20 })).rejects.toThrow('Event no-such-id was not published within 20 ms');
    const first = await app.get(EventPublisher).publish('users.created', { name: 'Ada' });
    await app.get(EventPublisher).publish('users.created', { name: 'Grace' });

    await expect(events.waitFor(first.id, { timeoutMs: 20 })).rejects.toThrow(
      `Event ${first.id} is no longer in the history (the memory transport keeps its maxEvents newest)`,
    );
  });

  it('drains only once a delivery waiting for a retry has run again', async () => {
    const { app, events } = await boot([FlakyIndexer], { retry: { initialDelayMs: 100, maxDelayMs: 100 } });
    const event = await app.get(EventPublisher).publish('documents.saved', { id: 'a' });

    await expect(events.drain({ timeoutMs: 30 })).rejects.toThrow(
      `group app.FlakyIndexer.index waits for a retry after attempt 1 failed: index busy`,
    );
    await events.drain();

    expect(app.get(FlakyIndexer).attempts).toBe(2);
    expect(await app.get(EventBroker).transport.get(event.id)).toMatchObject({ status: 'completed', retryCount: 1 });
  });

  it('drains the events that handlers publish, and waits for them by type', async () => {
    const { app, events } = await boot([OrderShipper]);
    await app.get(EventPublisher).publish('orders.paid', { orderId: 12 });

    const shipped = await events.waitForType('orders.*');
    await events.drain();

    expect(shipped.type).toBe('orders.paid');
    expect((await events.waitForType('orders.shipped')).status).toBe('completed');
    expect(events.published('orders.shipped').map((event) => event.payload)).toEqual([{ orderId: 12 }]);
  });

  it('drains a publish that was not awaited while its contract is still checking the payload', async () => {
    const { app, events } = await boot([InvoiceArchive]);
    void app.get(EventPublisher).publish(InvoiceIssued, { total: 5 });

    await events.drain();

    expect(app.get(InvoiceArchive).totals).toEqual([5]);
  });

  it('records what @EmitsEvent methods and publishes before bootstrap published', async () => {
    const { app, events } = await boot([UserService]);
    app.get(UserService).rename(3, 'Grace');
    await events.drain();

    expect(events.published().map((event) => event.type)).toEqual(['system.started', 'users.renamed']);
    expect(events.expectPublished('users.renamed', { name: 'Grace' }).payload).toEqual({ id: 3, name: 'Grace' });
    expect(events.expectPublished('system.*').type).toBe('system.started');
  });

  it('fails expectPublished with what was published instead, as an AssertionError', async () => {
    const { app, events } = await boot([]);
    expect(() => events.expectPublished('users.created')).toThrow('Expected an event matching users.created; nothing was published');
    const publisher = app.get(EventPublisher);
    await publisher.publish('users.created', { name: 'Ada', roles: ['admin'] });
    await publisher.publish('users.deleted', { id: 1 });

    expect(() => events.expectPublished('users.created', { name: 'Grace' })).toThrow(
      'Expected an event matching users.created with a payload like {"name":"Grace"}; published users.created: users.created {"name":"Ada","roles":["admin"]}',
    );
    expect(() => events.expectPublished('orders.*', { id: 1 })).toThrow(
      'Expected an event matching orders.* with a payload like {"id":1}; published: users.created, users.deleted',
    );
    expect(() => events.expectPublished('users.created', { roles: [] })).toThrow(AssertionError);
    expect(events.expectPublished('users.created', { roles: ['admin'] }).payload).toEqual({ name: 'Ada', roles: ['admin'] });
  });

  it('records a publish before it resolves in sync mode, where the handlers ran already', async () => {
    const { app, events } = await boot([WelcomeMailer], { mode: 'sync' });
    await app.get(EventPublisher).publish('users.created', { name: 'Ada' });

    expect(app.get(WelcomeMailer).sent).toEqual(['Ada']);
    expect(events.published('users.*')).toHaveLength(1);
  });

  it('gives every app its own transport', async () => {
    const testingModule = EventBrokerTestingModule.forRoot();
    const first = await Test.createTestingModule({ imports: [testingModule] }).compile();
    const second = await Test.createTestingModule({ imports: [testingModule] }).compile();
    await first.init();
    await second.init();
    await first.get(EventPublisher).publish('users.created', { name: 'Ada' });
    await first.close();

    await second.get(EventPublisher).publish('users.created', { name: 'Grace' });
    expect(
      second
        .get(TestEvents)
        .published()
        .map((event) => event.payload),
    ).toEqual([{ name: 'Grace' }]);
    await second.close();
  });

  it('refuses an option it does not know, and a transport', () => {
    expect(() => EventBrokerTestingModule.forRoot({ waitTimeoutMS: 10 } as EventBrokerTestingOptions)).toThrow(
      'EventBrokerTestingModule option waitTimeoutMS is unknown; did you mean waitTimeoutMs?',
    );
    expect(() => EventBrokerTestingModule.forRoot({ transport: 'redis' } as EventBrokerTestingOptions)).toThrow(
      'EventBrokerTestingModule option transport is unknown',
    );
    expect(() => EventBrokerTestingModule.forRoot({ waitTimeoutMs: 0 })).toThrow(
      'EventBrokerTestingModule option waitTimeoutMs must be a positive number of milliseconds, got 0',
    );
  });
});
