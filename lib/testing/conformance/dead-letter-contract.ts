import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../core/dead-letter-store.interface.js';
import { eventually, pause, type ConformanceContext } from './conformance-context.js';
import { ids, makeEvent } from './conformance-events.js';
import { consumeAs } from './test-consumer.js';

const eventIds = (letters: readonly DeadLetter[]): string[] => letters.map((letter) => letter.event.id);

/** Dead letters: what one records, the group filter and newest-first windows, and `replay`. */
export function describeDeadLetterContract(context: ConformanceContext): void {
  describe('dead letters', () => {
    it('records the group, error and attempts of a dead-lettered delivery and fails its event', async () => {
      const transport = await context.transport();
      const probe = await consumeAs(transport, 'g', ['dead.**']);
      const retried = makeEvent('dead.users.create');
      const inline = makeEvent('dead.users.update');
      await transport.publish(retried);
      const [first] = await probe.received(1);
      await first.retry(10, 'first failure');
      const [, second] = await probe.received(2);
      await second.deadLetter('final failure');
      await transport.publish(inline);
      const [, , third] = await probe.received(3);
      // Retries the publisher made inline (sync mode) count as attempts too.
      await third.deadLetter('inline failures', 4);

      await eventually(async () => (await transport.deadLetters()).length === 2, 'two dead letters');
      const [letter, inlineLetter] = await transport.deadLetters();
      expect(letter).toMatchObject({ group: 'g', error: 'final failure', attempts: 2, event: { id: retried.id, status: 'failed' } });
      expect(typeof letter.id).toBe('string');
      expect(letter.id).not.toBe('');
      expect(letter.deadLetteredAt).toBeInstanceOf(Date);
      expect(inlineLetter).toMatchObject({ group: 'g', error: 'inline failures', attempts: 4, event: { id: inline.id, retryCount: 3 } });
      expect(inlineLetter.id).not.toBe(letter.id);
      await eventually(async () => (await transport.get(inline.id))?.status === 'failed', 'the inline event failed');
      expect(await transport.get(retried.id)).toMatchObject({ status: 'failed', error: 'final failure' });
      expect(await transport.get(inline.id)).toMatchObject({ status: 'failed', error: 'inline failures', retryCount: 3 });
    });

    it('filters dead letters by group and windows them with limit and offset from the newest, newest last', async () => {
      const transport = await context.transport();
      const g1 = await consumeAs(transport, 'g1', ['windows.**']);
      const g2 = await consumeAs(transport, 'g2', ['windows.**']);
      // One key: each group gets them in the order they were published in.
      const events = Array.from({ length: 5 }, () => makeEvent('windows.users.create', { key: 'windows' }));
      for (const event of events) await transport.publish(event);
      await g1.received(5);
      await g2.received(5);

      // One at a time, a little apart: the order of dead-lettering is the order of the store.
      for (const delivery of g1.deliveries) {
        await delivery.deadLetter(`g1 ${delivery.event.id}`);
        await pause(3);
      }
      for (const [index, delivery] of g2.deliveries.entries()) {
        if (index < 2) await delivery.deadLetter('g2 failed');
        else await delivery.ack();
        await pause(3);
      }
      const [e1, e2, e3, e4, e5] = ids(events);

      await eventually(async () => (await transport.deadLetters()).length === 7, 'seven dead letters');
      const inG1 = await transport.deadLetters({ group: 'g1' });
      expect(eventIds(inG1)).toEqual([e1, e2, e3, e4, e5]);
      expect(inG1.map((letter) => letter.error)).toEqual(ids(events).map((id) => `g1 ${id}`));
      expect(eventIds(await transport.deadLetters({ group: 'g2' }))).toEqual([e1, e2]);
      expect(eventIds(await transport.deadLetters({ group: 'g1', limit: 2 }))).toEqual([e4, e5]);
      expect(eventIds(await transport.deadLetters({ group: 'g1', limit: 2, offset: 1 }))).toEqual([e3, e4]);
      expect(eventIds(await transport.deadLetters({ group: 'g1', offset: 4 }))).toEqual([e1]);
      expect(await transport.deadLetters({ group: 'g1', offset: 5 })).toEqual([]);
      expect(await transport.deadLetters({ group: 'g1', limit: 0 })).toEqual([]);
      expect(await transport.deadLetters({ group: 'unknown' })).toEqual([]);
      expect((await transport.deadLetters({ limit: 3 })).map((letter) => letter.group)).toEqual(['g1', 'g2', 'g2']);
      expect(eventIds(await transport.deadLetters({ limit: 2, offset: 2 }))).toEqual([e4, e5]);
    });

    it('replays a dead letter to its group as a first attempt, and takes it out of the store', async () => {
      const transport = await context.transport();
      const probe = await consumeAs(transport, 'g', ['replay.**']);
      const event = makeEvent('replay.users.create');
      await transport.publish(event);
      const [failed] = await probe.received(1);
      await failed.deadLetter('broken');
      await eventually(async () => (await transport.deadLetters()).length === 1, 'the dead letter stored');
      const [letter] = await transport.deadLetters();

      await transport.replay(letter.id);

      const [, replayed] = await probe.received(2);
      expect(replayed.group).toBe('g');
      expect(replayed.attempt).toBe(1);
      expect(replayed.event).toMatchObject({ id: event.id, retryCount: 0, status: 'processing' });
      expect(await transport.deadLetters()).toEqual([]);
      const during = await transport.get(event.id);
      expect(during?.status).not.toBe('failed');
      expect(during?.error).toBeUndefined();

      await replayed.ack();
      await eventually(async () => (await transport.get(event.id))?.status === 'completed', 'the replayed event completed');
      expect((await transport.stats()).deadLetters).toBe(0);
      await expect(transport.replay(letter.id)).rejects.toThrow(`Cannot replay dead letter ${letter.id}: no such dead letter`);
      expect(probe.deliveries).toHaveLength(2);
    });

    it('rejects the replay of an unknown dead letter, naming it', async () => {
      const transport = await context.transport();
      await consumeAs(transport, 'group', ['unknown.**']);
      for (const id of ['nope', 'unknown@group', '0-1@group', '1@group']) {
        await expect(transport.replay(id)).rejects.toThrow(`Cannot replay dead letter ${id}: no such dead letter`);
      }
    });
  });
}
