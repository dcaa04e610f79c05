import { describe, expect, it } from 'vitest';
import { createEvent, goEnvelopeCodec, InvalidEventError, type GoEnvelopeCodecOptions } from 'nestjs-event-broker';
import { GO_ENVELOPE } from '../../support/go-envelope.js';

describe('goEnvelopeCodec', () => {
  const codec = goEnvelopeCodec({ schema: 'auth' });

  it('reads the Go envelope as an event of the schema, keeping the other fields as metadata', () => {
    const event = codec.decode(JSON.stringify(GO_ENVELOPE));

    expect(event).toMatchObject({
      id: GO_ENVELOPE.id,
      type: 'auth.user.created',
      source: 'system',
      payload: GO_ENVELOPE.data,
      metadata: { origin: 'auth-service', organization_id: 'org-123', schema_version: '1.0' },
      status: 'pending',
      retryCount: 0,
    });
    expect(event.createdAt.toISOString()).toBe('2024-01-15T10:30:45.000Z');
  });

  it('writes an event as the Go envelope, without the schema in its type', () => {
    const event = createEvent({
      type: 'auth.user.role.updated',
      payload: { user_id: 1, role: 'viewer' },
      userId: 7,
      metadata: { organization_id: 'org-9' },
    });

    const envelope: unknown = JSON.parse(goEnvelopeCodec({ schema: 'auth', service: 'billing-service' }).encode(event));

    expect(envelope).toEqual({
      id: event.id,
      type: 'user.role.updated',
      source: 'billing-service',
      organization_id: 'org-9',
      schema_version: '1.0',
      timestamp: event.createdAt.toISOString(),
      data: { user_id: 1, role: 'viewer' },
      user_id: 7,
    });
  });

  it('gives back what it wrote', () => {
    const event = createEvent({
      type: 'auth.user.deleted',
      payload: { user_id: 3 },
      sessionId: 's-1',
      metadata: { origin: 'auth-service' },
    });

    const decoded = codec.decode(codec.encode(event));

    expect(decoded).toMatchObject({ id: event.id, type: event.type, payload: event.payload, sessionId: 's-1', createdAt: event.createdAt });
    expect(JSON.parse(codec.encode(event))).toMatchObject({ source: 'auth-service' });
  });

  it.each([
    ['{', /Malformed event envelope: not JSON/],
    ['[]', /Malformed event envelope: not a JSON object/],
    [JSON.stringify({ ...GO_ENVELOPE, id: '' }), /id must be a non-empty string/],
    [JSON.stringify({ ...GO_ENVELOPE, type: 7 }), /type must be a non-empty string/],
    [JSON.stringify({ ...GO_ENVELOPE, timestamp: 'yesterday' }), /timestamp "yesterday" is not an RFC 3339 time/],
    [
      JSON.stringify({ ...GO_ENVELOPE, type: 'user created' }),
      /Malformed event envelope: Invalid event type: segment 2 of "auth.user created"/,
    ],
  ])('refuses %s, naming what is wrong', (body, message) => {
    expect(() => codec.decode(body)).toThrow(InvalidEventError);
    expect(() => codec.decode(body)).toThrow(message);
  });

  it("keeps the parser's or the event check's error as the cause", () => {
    expect(() => codec.decode('{')).toThrow(expect.objectContaining({ cause: expect.any(SyntaxError) }));
    expect(() => codec.decode(JSON.stringify({ ...GO_ENVELOPE, type: 'user created' }))).toThrow(
      expect.objectContaining({ cause: expect.any(InvalidEventError) }),
    );
  });

  it('refuses an unknown option, naming the one meant', () => {
    expect(() => goEnvelopeCodec({ schema: 'auth', servce: 'auth-service' } as GoEnvelopeCodecOptions)).toThrow(
      'goEnvelopeCodec option servce is unknown; did you mean service?',
    );
  });

  it('refuses to write an event of another schema', () => {
    expect(() => codec.encode(createEvent({ type: 'billing.invoice.paid', payload: {} }))).toThrow(
      'Event type "billing.invoice.paid" cannot be written as a Go envelope of schema "auth"',
    );
  });
});
