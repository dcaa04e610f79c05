// Type-level tests: `npm run lint` (tsc) fails when an inference breaks or a `@ts-expect-error` line compiles.
import 'reflect-metadata';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { EventPublisher, OnEvent, defineEvent, type BrokerEvent, type EventOf } from '../../../lib/index.js';

const UserCreated = defineEvent(
  'public.users.create',
  z.object({ id: z.number(), email: z.email(), tags: z.array(z.string()).default([]) }),
);
const UserDeleted = defineEvent('public.users.delete', z.object({ id: z.number() }));

type UserCreatedInput = { id: number; email: string; tags?: string[] | undefined };
type UserCreatedPayload = { id: number; email: string; tags: string[] };

/** Never called: tsc checks the types of its calls. */
const publishWithPublisher = async (publisher: EventPublisher): Promise<void> => {
  expectTypeOf(await publisher.publish(UserCreated, { id: 1, email: 'ada@example.com' })).toEqualTypeOf<BrokerEvent<UserCreatedInput>>();
  expectTypeOf(await publisher.publishSync({ type: UserCreated, payload: { id: 1, email: 'ada@example.com' } })).toEqualTypeOf<
    BrokerEvent<UserCreatedInput>
  >();
  // @ts-expect-error the payload lacks email
  await publisher.publish(UserCreated, { id: 1 });
  // @ts-expect-error id is a number
  await publisher.publishAsync(UserCreated, { id: '1', email: 'ada@example.com' }, { source: 'database' });
  expectTypeOf(await publisher.publish('public.users.create', { anything: true })).toEqualTypeOf<BrokerEvent<{ anything: boolean }>>();
};

describe('Event contract types in Nest', () => {
  it('types EventPublisher.publish by the contract, and leaves string types as they were', () => {
    expectTypeOf(publishWithPublisher).toBeFunction();
  });

  it("checks an @OnEvent(contract) handler's parameter against the contract's payload", () => {
    class Handlers {
      @OnEvent(UserCreated)
      welcome(event: EventOf<typeof UserCreated>): void {
        expectTypeOf(event.payload).toEqualTypeOf<UserCreatedPayload>();
      }

      @OnEvent(UserCreated)
      emailOnly(event: BrokerEvent<{ email: string }>, ...rest: unknown[]): void {
        expectTypeOf(event.payload.email).toBeString();
        expectTypeOf(rest).toEqualTypeOf<unknown[]>();
      }

      @OnEvent([UserCreated, UserDeleted], { group: 'audit' })
      audit(event: BrokerEvent<UserCreatedPayload | { id: number }>): number {
        return event.payload.id;
      }

      @OnEvent(UserCreated)
      untyped(event: BrokerEvent): unknown {
        return event.payload;
      }

      // @ts-expect-error the contract's payload has no name
      @OnEvent(UserCreated)
      wrong(event: BrokerEvent<{ name: string }>): string {
        return event.payload.name;
      }

      // @ts-expect-error a handler of both contracts cannot count on email
      @OnEvent([UserCreated, UserDeleted])
      tooSure(event: EventOf<typeof UserCreated>): string {
        return event.payload.email;
      }

      @OnEvent('public.users.create')
      byPattern(event: BrokerEvent<{ name: string }>): string {
        return event.payload.name;
      }
    }
    expectTypeOf<Handlers['welcome']>().parameter(0).toEqualTypeOf<EventOf<typeof UserCreated>>();
  });
});
