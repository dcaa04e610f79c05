import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  EventBroker,
  EventBrokerError,
  InvalidEventError,
  MemoryTransport,
  createEvent,
  defineEvent,
  type BrokerEvent,
  type EventBrokerOptions,
} from '../../../lib/index.js';
import { RecordingLogger } from '../../support/silent-logger.js';
import { waitFor } from '../../support/wait-for.js';

const UserCreated = defineEvent(
  'public.users.create',
  z.object({ id: z.number().int(), email: z.email(), tags: z.array(z.string()).default([]) }),
);

const brokers: EventBroker[] = [];

async function startBroker(options: Partial<EventBrokerOptions> = {}): Promise<EventBroker> {
  const broker = new EventBroker({
    transport: new MemoryTransport(),
    retry: { maxRetries: 3, initialDelayMs: 1, maxDelayMs: 2, jitter: 0 },
    logger: new RecordingLogger(),
    ...options,
  });
  brokers.push(broker);
  await broker.start();
  return broker;
}

afterEach(async () => {
  await Promise.all(brokers.splice(0).map((broker) => broker.stop()));
});

describe('defineEvent', () => {
  it('gives a frozen contract of the type and the schema', () => {
    const schema = z.object({ id: z.number() });
    const contract = defineEvent('billing.invoice.paid', schema);
    expect(contract).toEqual({ type: 'billing.invoice.paid', schema });
    expect(Object.isFrozen(contract)).toBe(true);
  });

  it('refuses an invalid type and a schema that is not a Standard Schema, naming them', () => {
    expect(() => defineEvent('public..create', z.object({}))).toThrow(InvalidEventError);
    expect(() => defineEvent('public..create', z.object({}))).toThrow('Invalid event type: segment 2 of "public..create"');
    expect(() => defineEvent('public.users.create', { parse: () => undefined } as never)).toThrow(
      'defineEvent("public.users.create"): the schema must be a Standard Schema v1 (zod ≥ 3.24, valibot ≥ 1, arktype, …) or a class-validator class, got {}',
    );
  });
});

describe('Publishing under a contract', () => {
  it('stores the payload as given once the schema accepts it', async () => {
    const broker = await startBroker();
    const event = await broker.publish({ type: UserCreated, payload: { id: 1, email: 'ada@example.com' }, source: 'database' });
    expect(event.type).toBe('public.users.create');
    expect(event.source).toBe('database');
    expect((await broker.transport.get(event.id))?.payload).toEqual({ id: 1, email: 'ada@example.com' });
  });

  it('rejects a payload the schema refuses with an InvalidEventError naming every path, and stores nothing', async () => {
    const broker = await startBroker();
    const publishing = broker.publish({
      type: UserCreated,
      payload: { id: 1.5, email: 'not-an-email', tags: ['a', 2] } as never,
    });
    await expect(publishing).rejects.toThrow(InvalidEventError);
    await expect(publishing).rejects.toThrow(
      'Invalid payload for public.users.create: payload.id: Invalid input: expected int, received number; payload.email: Invalid email address; payload.tags[1]: Invalid input: expected string, received number',
    );
    expect((await broker.stats()).totalPublished).toBe(0);
    expect(await broker.transport.list({})).toEqual([]);
  });

  it('checks the payload as handlers get it (JSON), so that a publish it accepts is never dead-lettered by its own contract', async () => {
    const broker = await startBroker();
    const Scheduled = defineEvent('public.jobs.schedule', z.object({ at: z.date() }));
    await expect(broker.publish({ type: Scheduled, payload: { at: new Date() } })).rejects.toThrow(
      'Invalid payload for public.jobs.schedule: payload.at: Invalid input: expected date, received string',
    );
    expect(await broker.transport.list({})).toEqual([]);
  });

  it('waits for a schema that validates asynchronously', async () => {
    const taken = new Set(['taken@example.com']);
    const Signup = defineEvent(
      'public.users.signup',
      z.object({ email: z.string() }).refine(async ({ email }) => !taken.has(email), { message: 'Email already taken', path: ['email'] }),
    );
    const broker = await startBroker();
    await expect(broker.publish({ type: Signup, payload: { email: 'new@example.com' } })).resolves.toMatchObject({
      payload: { email: 'new@example.com' },
    });
    await expect(broker.publish({ type: Signup, payload: { email: 'taken@example.com' } })).rejects.toThrow(
      'Invalid payload for public.users.signup: payload.email: Email already taken',
    );
  });
});

describe('Subscribing with a contract', () => {
  it("gives the handler the schema's output for the contract's type only", async () => {
    const broker = await startBroker();
    const seen: BrokerEvent<{ id: number; email: string; tags: string[] }>[] = [];
    await broker.subscribe(UserCreated, (event) => void seen.push(event), { group: 'mailer' });
    await broker.publish({ type: 'public.users.delete', payload: { id: 1 } });
    const event = await broker.publish({ type: UserCreated, payload: { id: 1, email: 'ada@example.com' } });
    await waitFor(() => seen.length === 1, 'the handler ran');
    expect(seen[0]).toMatchObject({ id: event.id, payload: { id: 1, email: 'ada@example.com', tags: [] } });
  });

  it("dead-letters a foreign event whose payload breaks the contract, with the schema's message, at once and without running the handler", async () => {
    const broker = await startBroker();
    const calls: unknown[] = [];
    await broker.subscribe(UserCreated, (event) => void calls.push(event.payload), { group: 'mailer' });
    await broker.subscribe('public.users.*', () => undefined, { group: 'audit' });
    const foreign = createEvent({ type: 'public.users.create', payload: { id: 'one', email: 'ada@example.com' } });
    await broker.transport.publish(foreign);
    await waitFor(async () => (await broker.transport.get(foreign.id))?.status === 'failed', 'the event failed');
    const [dead] = await broker.transport.deadLetters();
    expect(dead).toMatchObject({
      group: 'mailer',
      attempts: 1,
      error: 'Invalid payload for public.users.create: payload.id: Invalid input: expected number, received string',
    });
    expect((await broker.transport.deadLetters()).length).toBe(1);
    expect(calls).toEqual([]);
    expect((await broker.stats()).totalFailed).toBe(1);
  });

  it('checks the contract of a type that a pattern of the same subscription matches too', async () => {
    const broker = await startBroker();
    const calls: string[] = [];
    await broker.subscribe([UserCreated, 'public.users.*'], (event) => void calls.push(event.type), { group: 'users' });
    await broker.publish({ type: 'public.users.delete', payload: { id: 'any' } });
    const foreign = createEvent({ type: 'public.users.create', payload: { id: 1 } });
    await broker.transport.publish(foreign);
    await waitFor(async () => (await broker.transport.get(foreign.id))?.status === 'failed', 'the event failed');
    await waitFor(() => calls.length === 1, 'the handler ran for the other type');
    expect(calls).toEqual(['public.users.delete']);
    expect(await broker.transport.deadLetters()).toMatchObject([{ event: { id: foreign.id }, group: 'users' }]);
  });

  it('rejects a sync publish whose payload the subscription refuses, after dead-lettering it', async () => {
    const broker = await startBroker({ mode: 'sync' });
    const calls: unknown[] = [];
    await broker.subscribe(UserCreated, (event) => void calls.push(event), { group: 'mailer' });
    await expect(broker.publish({ type: 'public.users.create', payload: { id: 1 } })).rejects.toThrow(
      'Invalid payload for public.users.create: payload.email: Invalid input: expected string, received undefined',
    );
    expect(calls).toEqual([]);
    expect(await broker.transport.deadLetters()).toMatchObject([{ group: 'mailer', attempts: 1 }]);
  });

  it('refuses two contracts of one type with different schemas in one subscription', async () => {
    const broker = await startBroker();
    const Other = defineEvent('public.users.create', z.object({ id: z.string() }));
    await expect(broker.subscribe([UserCreated, Other], () => undefined, { group: 'mixed' })).rejects.toThrow(EventBrokerError);
    await expect(broker.subscribe([UserCreated, Other], () => undefined, { group: 'mixed' })).rejects.toThrow(
      'Two contracts of public.users.create with different schemas in one subscription: give it one of them',
    );
    await expect(broker.subscribe([UserCreated, UserCreated], () => undefined, { group: 'same' })).resolves.toMatchObject({
      group: 'same',
    });
  });
});
