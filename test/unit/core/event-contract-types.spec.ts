// Type-level tests: `npm run lint` (tsc) fails when an inference breaks or a `@ts-expect-error` line compiles.
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { EventBroker, defineEvent, type BrokerEvent, type EventOf, type EventPayload, type EventPayloadInput } from '../../../lib/index.js';

const UserCreated = defineEvent(
  'public.users.create',
  z.object({ id: z.number(), email: z.email(), tags: z.array(z.string()).default([]) }),
);
const UserDeleted = defineEvent('public.users.delete', z.object({ id: z.number() }));

type UserCreatedInput = { id: number; email: string; tags?: string[] | undefined };
type UserCreatedPayload = { id: number; email: string; tags: string[] };

/** Never called: tsc checks the types of its calls. */
const publishAndSubscribe = async (broker: EventBroker): Promise<void> => {
  expectTypeOf(await broker.publish({ type: UserCreated, payload: { id: 1, email: 'ada@example.com' } })).toEqualTypeOf<
    BrokerEvent<UserCreatedInput>
  >();
  // @ts-expect-error the payload lacks email
  await broker.publish({ type: UserCreated, payload: { id: 1 } });
  // @ts-expect-error id is a number
  await broker.publishAsync({ type: UserCreated, payload: { id: '1', email: 'ada@example.com' } });
  await broker.subscribe(UserCreated, (event) => expectTypeOf(event.payload).toEqualTypeOf<UserCreatedPayload>());
  await broker.subscribe([UserCreated, UserDeleted], (event) =>
    expectTypeOf(event.payload).toEqualTypeOf<UserCreatedPayload | { id: number }>(),
  );
  // @ts-expect-error the handler expects a payload the contract does not give
  await broker.subscribe(UserCreated, (event: BrokerEvent<{ name: string }>) => event.payload.name);
  await broker.subscribe('public.users.*', (event: BrokerEvent<{ name: string }>) => event.payload.name);
  await broker.publish({ type: 'public.users.create', payload: { anything: true } });
};

describe('Event contract types', () => {
  it("takes the schema's input type for publishing and its output type for handling", () => {
    expectTypeOf(UserCreated.type).toEqualTypeOf<'public.users.create'>();
    expectTypeOf<EventPayloadInput<typeof UserCreated>>().toEqualTypeOf<UserCreatedInput>();
    expectTypeOf<EventPayload<typeof UserCreated>>().toEqualTypeOf<UserCreatedPayload>();
    expectTypeOf<EventOf<typeof UserCreated>>().toEqualTypeOf<BrokerEvent<UserCreatedPayload>>();
  });

  it('types EventBroker.publish and subscribe by the contract', () => {
    expectTypeOf(publishAndSubscribe).toBeFunction();
  });
});
