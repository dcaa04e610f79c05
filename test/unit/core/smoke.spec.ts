import { describe, expect, it } from 'vitest';
import { EventBroker, MemoryTransport, createEvent } from '../../../lib/index.js';

describe('smoke', () => {
  it('delivers', async () => {
    const broker = new EventBroker({ transport: new MemoryTransport() });
    const seen: string[] = [];
    await broker.subscribe(
      'public.users.*',
      async (event) => {
        seen.push(event.type);
      },
      { group: 'g' },
    );
    await broker.start();
    await broker.publish(createEvent({ type: 'public.users.create', payload: { a: 1 } }));
    await broker.stop();
    expect(seen).toEqual(['public.users.create']);
  });
});
