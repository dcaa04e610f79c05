import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsEmail, IsInt, IsString, Length, ValidateNested } from 'class-validator';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  EventBroker,
  InvalidEventError,
  MemoryTransport,
  createEvent,
  defineEvent,
  type EventOf,
  type EventPayloadInput,
} from '../../../lib/index.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

class Address {
  @Length(5, 5)
  zip!: string;
}

class UserCreatedPayload {
  @IsInt()
  id!: number;

  @IsEmail()
  email!: string;

  @ValidateNested()
  @Type(() => Address)
  address!: Address;

  greeting(): string {
    return `hello ${this.email}`;
  }
}

class Renamed {
  @IsString()
  name!: string;
}

const UserCreated = defineEvent('public.users.create', UserCreatedPayload);

const brokers: EventBroker[] = [];

async function startBroker(): Promise<EventBroker> {
  const broker = new EventBroker({
    transport: new MemoryTransport(),
    retry: { maxRetries: 3, initialDelayMs: 1, jitter: 0 },
    logger: new RecordingLogger(),
  });
  brokers.push(broker);
  await broker.start();
  return broker;
}

afterEach(async () => {
  await Promise.all(brokers.splice(0).map((broker) => broker.stop()));
});

describe('Contracts of class-validator classes', () => {
  it('takes the plain properties for publishing and gives the handler an instance', () => {
    expectTypeOf<EventPayloadInput<typeof UserCreated>>().toEqualTypeOf<{ id: number; email: string; address: Address }>();
    expectTypeOf<EventOf<typeof UserCreated>['payload']>().toEqualTypeOf<UserCreatedPayload>();
    expect(defineEvent('public.users.rename', Renamed).schema['~standard'].vendor).toBe('class-validator');
  });

  it('publishes a payload the decorators accept and refuses one they do not, naming the nested paths', async () => {
    const broker = await startBroker();
    const event = await broker.publish({ type: UserCreated, payload: { id: 1, email: 'ada@example.com', address: { zip: '75001' } } });
    expect((await broker.transport.get(event.id))?.payload).toEqual({ id: 1, email: 'ada@example.com', address: { zip: '75001' } });
    const publishing = broker.publish({ type: UserCreated, payload: { id: 1, email: 'ada', address: { zip: '7500' } } });
    await expect(publishing).rejects.toThrow(InvalidEventError);
    await expect(publishing).rejects.toThrow(
      'Invalid payload for public.users.create: payload.email: email must be an email; payload.address.zip: zip must be longer than or equal to 5 characters',
    );
    await expect(broker.publish({ type: UserCreated, payload: 'ada' as never })).rejects.toThrow(
      'Invalid payload for public.users.create: payload: expected an object, got string',
    );
  });

  it('hands the handler an instance of the class, and dead-letters a foreign payload the decorators refuse', async () => {
    const broker = await startBroker();
    const greetings: string[] = [];
    await broker.subscribe(UserCreated, (event) => void greetings.push(event.payload.greeting()), { group: 'mailer' });
    await broker.publish({ type: UserCreated, payload: { id: 1, email: 'ada@example.com', address: { zip: '75001' } } });
    await waitFor(() => greetings.length === 1, 'the handler ran');
    expect(greetings).toEqual(['hello ada@example.com']);
    const foreign = createEvent({
      type: 'public.users.create',
      payload: { id: 'one', email: 'bob@example.com', address: { zip: '75001' } },
    });
    await broker.transport.publish(foreign);
    await waitFor(async () => (await broker.transport.get(foreign.id))?.status === 'failed', 'the event failed');
    expect(await broker.transport.deadLetters()).toMatchObject([
      { group: 'mailer', attempts: 1, error: 'Invalid payload for public.users.create: payload.id: id must be an integer number' },
    ]);
    expect(greetings).toEqual(['hello ada@example.com']);
  });
});
