import { describe, expect, it } from 'vitest';
import { createEvent } from '../../../lib/index.js';
import { NatsSubjects } from '../../../lib/transports/nats/nats-subjects.js';

describe('NatsSubjects', () => {
  const event = createEvent({ type: 'public.users.create', source: 'database', payload: {} });

  it('keeps the layout before partitions with one partition', () => {
    const subjects = new NatsSubjects('ev', 'prefix.source.type');
    expect(subjects.of(event, 0)).toBe('ev.database.public.users.create');
    expect(subjects.all(0)).toBe('ev.>');
    expect(subjects.filter(['public.users.*'], 0)).toBe('ev.*.public.users.*');
    expect(subjects.deadLetter('app.Mailer', { partition: 0, seq: 7 })).toBe('ev-dlq.app_2eMailer.7');
    expect(subjects.deadLettersOf({ partition: 0, seq: 7 })).toBe('ev-dlq.*.7');
    expect(subjects.parseDeadLetter('ev-dlq.app_2eMailer.7')).toEqual({ groupToken: 'app_2eMailer', position: { partition: 0, seq: 7 } });
    // A dead letter of the earliest layout, without the event's sequence.
    expect(subjects.parseDeadLetter('ev-dlq.app_2eMailer')).toBeUndefined();
    expect(subjects.progressOf('deliveries', 0)).toBe('ev-progress.deliveries');
    expect(subjects.parseProgress('ev-progress.status')).toEqual({ partition: 0, kind: 'status' });
  });

  it('names the partition in the events, dead-letter and progress subjects with several', () => {
    const subjects = new NatsSubjects('ev', 'prefix.source.type', 4);
    expect(subjects.of(event, 2)).toBe('ev.p2.database.public.users.create');
    expect(subjects.all(3)).toBe('ev.p3.>');
    expect(subjects.filter(['public.users.*'], 1)).toBe('ev.p1.*.public.users.*');
    expect(subjects.filter(['a.*', 'b.*'], 1)).toBe('ev.p1.>');
    expect(subjects.deadLetter('mailer', { partition: 3, seq: 7 })).toBe('ev-dlq.mailer.3.7');
    expect(subjects.deadLettersOf({ partition: 3, seq: 7 })).toBe('ev-dlq.*.3.7');
    expect(subjects.everyDeadLetter).toBe('ev-dlq.*.*.*');
    expect(subjects.parseDeadLetter('ev-dlq.mailer.3.7')).toEqual({ groupToken: 'mailer', position: { partition: 3, seq: 7 } });
    expect(subjects.progressOf('status', 3)).toBe('ev-progress.p3.status');
    expect(subjects.parseProgress('ev-progress.p3.deliveries')).toEqual({ partition: 3, kind: 'deliveries' });
    // Records of a partition this count has not (or of the layout before partitions) are not this layout's.
    expect(subjects.parseProgress('ev-progress.p4.deliveries')).toBeUndefined();
    expect(subjects.parseProgress('ev-progress.deliveries')).toBeUndefined();
  });

  it("refuses subjectLayout 'type' with partitions, saying why", () => {
    expect(() => new NatsSubjects('ev', 'type', 2)).toThrow(
      "NatsTransport option subjectLayout 'type' cannot be used with partitions 2: the subject of a partitioned event carries its partition",
    );
  });
});
