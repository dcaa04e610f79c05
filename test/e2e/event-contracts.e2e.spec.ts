import 'reflect-metadata';
import { Injectable, type INestApplication, type OnModuleInit, type Type } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { useTestApps } from '../support/test-apps.js';
import { z } from 'zod';
import {
  EventBroker,
  EventBrokerModule,
  EventPublisher,
  InvalidEventError,
  OnEvent,
  createEvent,
  defineEvent,
  type BrokerEvent,
  type EventOf,
} from '../../lib/index.js';
import { waitFor } from '../support/wait-for.js';

const UserCreated = defineEvent(
  'public.users.create',
  z.object({ id: z.number(), email: z.email(), tags: z.array(z.string()).default([]) }),
);
const UserDeleted = defineEvent('public.users.delete', z.object({ id: z.number() }));

@Injectable()
class WelcomeMailer {
  readonly welcomed: EventOf<typeof UserCreated>[] = [];

  @OnEvent(UserCreated)
  welcome(event: EventOf<typeof UserCreated>): void {
    this.welcomed.push(event);
  }
}

@Injectable()
class UsersAudit {
  readonly seen: BrokerEvent[] = [];

  @OnEvent([UserCreated, UserDeleted])
  record(event: BrokerEvent<{ id: number }>): void {
    this.seen.push(event);
  }

  @OnEvent('public.users.*')
  everything(event: BrokerEvent): void {
    this.seen.push(event);
  }
}

const testApps = useTestApps();

function boot(providers: Type[] = []): Promise<INestApplication> {
  return testApps.boot({
    imports: [EventBrokerModule.forRoot({ retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2, jitter: 0 } })],
    providers: [WelcomeMailer, UsersAudit, ...providers],
  });
}

describe('Typed event contracts in Nest', () => {
  it("delivers the schema's output of a payload published under the contract to the typed handler", async () => {
    const app = await boot();
    const event = await app.get(EventPublisher).publish(UserCreated, { id: 7, email: 'ada@example.com' });
    const mailer = app.get(WelcomeMailer);
    await waitFor(() => mailer.welcomed.length === 1, 'the mailer ran');
    expect(mailer.welcomed[0]).toMatchObject({
      id: event.id,
      type: 'public.users.create',
      payload: { id: 7, email: 'ada@example.com', tags: [] },
    });
    await waitFor(async () => (await app.get(EventBroker).transport.get(event.id))?.status === 'completed', 'the event completed');
  });

  it('refuses to publish a payload the contract rejects, naming the path', async () => {
    const app = await boot();
    const publishing = app.get(EventPublisher).publish(UserCreated, { id: 7, email: 'ada' });
    await expect(publishing).rejects.toThrow(InvalidEventError);
    await expect(publishing).rejects.toThrow('Invalid payload for public.users.create: payload.email: Invalid email address');
    expect(await app.get(EventBroker).transport.list({})).toEqual([]);
  });

  it('checks an event published before bootstrap when it is published, not when it is released', async () => {
    const outcomes: string[] = [];
    @Injectable()
    class EarlyPublisher implements OnModuleInit {
      constructor(private readonly events: EventPublisher) {}

      async onModuleInit(): Promise<void> {
        await this.events.publish(UserCreated, { id: 1, email: 'early' }).catch((error: Error) => outcomes.push(error.message));
      }
    }
    await boot([EarlyPublisher]);
    expect(outcomes).toEqual(['Invalid payload for public.users.create: payload.email: Invalid email address']);
  });

  it("dead-letters a foreign producer's event that breaks the contract, with the message, and never runs the typed handlers", async () => {
    const app = await boot();
    const broker = app.get(EventBroker);
    const foreign = createEvent({ type: 'public.users.create', source: 'system', payload: { id: '7', email: 'ada@example.com' } });
    await broker.transport.publish(foreign);
    await waitFor(async () => (await broker.transport.deadLetters()).length === 2, 'both contract subscriptions dead-lettered it');
    const reason = 'Invalid payload for public.users.create: payload.id: Invalid input: expected number, received string';
    const deadLetters = await broker.transport.deadLetters();
    expect(
      deadLetters.map(({ group, error, attempts }) => ({ group, error, attempts })).toSorted((a, b) => a.group.localeCompare(b.group)),
    ).toEqual([
      { group: 'app.UsersAudit.record', error: reason, attempts: 1 },
      { group: 'app.WelcomeMailer.welcome', error: reason, attempts: 1 },
    ]);
    const audit = app.get(UsersAudit);
    await waitFor(() => audit.seen.length === 1, 'the handler by pattern ran');
    expect(audit.seen[0]).toMatchObject({ id: foreign.id, payload: { id: '7' } });
    expect(app.get(WelcomeMailer).welcomed).toEqual([]);
    expect(await broker.transport.get(foreign.id)).toMatchObject({ status: 'failed', error: reason });
  });
});
