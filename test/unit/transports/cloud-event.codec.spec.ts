import { describe, expect, it } from 'vitest';
import { createEvent, fromCloudEvent, InvalidEventError, toCloudEvent } from '../../../lib/index.js';

describe('CloudEvents codec', () => {
  it('round-trips every field of an event', () => {
    const event = createEvent({
      type: 'public.users.create',
      source: 'frontend',
      payload: { id: 1, tags: ['a'] },
      userId: 7,
      sessionId: 's-1',
      key: 'user-7',
      instanceId: 'api-1',
      metadata: { traceparent: '00-abc-def-01', tracestate: 'x=1', 'X-Request-Id': 'r-1', retries: 2, sampled: true },
    });
    const decoded = fromCloudEvent(JSON.stringify(toCloudEvent(event)));
    expect(decoded).toEqual(event);
  });

  it('writes the key as the partitionkey attribute of the Partitioning extension, and reads it back from any producer', () => {
    const cloudEvent = toCloudEvent(createEvent({ type: 'a.b', payload: null, key: 'order-9', metadata: { partitionkey: 'not the key' } }));
    expect(cloudEvent.partitionkey).toBe('order-9');
    expect(JSON.parse(cloudEvent.ebmetadata as string)).toEqual({ partitionkey: 'not the key' });
    expect(toCloudEvent(createEvent({ type: 'a.b', payload: null }))).not.toHaveProperty('partitionkey');

    const foreign = fromCloudEvent('{"specversion":"1.0","id":"1","source":"system","type":"a.b","partitionkey":"account-3"}');
    expect(foreign.key).toBe('account-3');
    expect(foreign.metadata).toEqual({});
  });

  it.each([
    ['a number, as Kafka-style producers write', 7, { partitionkey: 7 }],
    ['a boolean', true, { partitionkey: true }],
    ['an empty string', '', { partitionkey: '' }],
    ['a string over 256 characters', 'k'.repeat(257), { partitionkey: 'k'.repeat(257) }],
    ['a string with control characters', 'a\nb', { partitionkey: 'a\nb' }],
    ['an object, which metadata cannot hold', { id: 1 }, {}],
    ['null', null, {}],
  ])('reads a document whose partitionkey is %s as an event without a key', (_kind, partitionkey, metadata) => {
    const event = fromCloudEvent(JSON.stringify({ specversion: '1.0', id: '1', source: 'system', type: 'a.b', partitionkey }));
    expect(event.key).toBeUndefined();
    expect(event.metadata).toEqual(metadata);
  });

  it('reads a metadata partitionkey written before events had keys (an old outbox row) back as metadata', () => {
    const oldRow = { specversion: '1.0', id: '1', source: 'system', type: 'a.b', partitionkey: 7, traceparent: 't' };
    const event = fromCloudEvent(JSON.stringify(oldRow));
    expect(event.metadata).toEqual({ partitionkey: 7, traceparent: 't' });
    const again = fromCloudEvent(JSON.stringify(toCloudEvent(event)));
    expect(again).toEqual(event);
  });

  it('keeps the metadata partitionkey from ebmetadata beside an invalid partitionkey attribute', () => {
    const document = { specversion: '1.0', id: '1', source: 'system', type: 'a.b', partitionkey: 9, ebmetadata: '{"partitionkey":"meta"}' };
    const event = fromCloudEvent(JSON.stringify(document));
    expect(event.key).toBeUndefined();
    expect(event.metadata).toEqual({ partitionkey: 'meta' });
  });

  it('puts metadata with valid attribute names at the top level and the rest in ebmetadata', () => {
    const cloudEvent = toCloudEvent(
      createEvent({ type: 'a.b.c', payload: null, metadata: { traceparent: 't', 'x-Id': 'i', type: 'clash' } }),
    );
    expect(cloudEvent.traceparent).toBe('t');
    expect(cloudEvent.type).toBe('a.b.c');
    expect(JSON.parse(cloudEvent.ebmetadata as string)).toEqual({ 'x-Id': 'i', type: 'clash' });
  });

  it.each([
    ['not json', /not JSON/],
    ['[1]', /not a JSON object/],
    ['{"specversion":"0.3","id":"1","source":"system","type":"a.b"}', /specversion must be "1.0"/],
    ['{"specversion":"1.0","source":"system","type":"a.b"}', /id must be a non-empty string/],
    ['{"specversion":"1.0","id":"1","source":"/billing","type":"a.b"}', /Invalid event source "\/billing"/],
    ['{"specversion":"1.0","id":"1","source":"system","type":"a..b"}', /segment 2/],
    ['{"specversion":"1.0","id":"1","source":"system","type":"a.b","time":"yesterday"}', /time "yesterday" is not a timestamp/],
    [
      '{"specversion":"1.0","id":"1","source":"system","type":"a.b","datacontenttype":"text/plain"}',
      /datacontenttype must be application\/json/,
    ],
    ['{"specversion":"1.0","id":"1","source":"system","type":"a.b","custom":{"x":1}}', /extension attribute custom must be a string/],
  ])('rejects %s with a message naming the problem', (body, message) => {
    expect(() => fromCloudEvent(body)).toThrow(InvalidEventError);
    expect(() => fromCloudEvent(body)).toThrow(message);
  });

  it("keeps the parser's error as the cause of a body that is not JSON", () => {
    expect(() => fromCloudEvent('not json')).toThrow(expect.objectContaining({ cause: expect.any(SyntaxError) }));
  });

  it('accepts a minimal foreign document', () => {
    const event = fromCloudEvent('{"specversion":"1.0","id":"x-1","source":"system","type":"billing.invoices.create"}');
    expect(event).toMatchObject({ id: 'x-1', payload: null, status: 'pending', instanceId: '', entity: 'invoices' });
  });
});

describe('CloudEvents codec against the official SDK', () => {
  it('writes documents the cloudevents SDK validates, and reads documents it writes', async () => {
    const { CloudEvent, HTTP } = await import('cloudevents');
    const event = createEvent({
      type: 'public.users.create',
      source: 'database',
      payload: { id: 1 },
      userId: 'u-1',
      sessionId: 's-1',
      instanceId: 'api-1',
      metadata: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'X-Odd-Key': 'kept' },
    });
    const document = toCloudEvent(event);
    const parsed = new CloudEvent(document);
    expect(parsed.validate()).toBe(true);
    expect(parsed.type).toBe('public.users.create');

    const written = new CloudEvent({
      specversion: '1.0',
      id: 'sdk-1',
      source: 'system',
      type: 'billing.invoices.create',
      data: { total: 2 },
      userid: 'u-9',
    });
    const { body } = HTTP.structured(written);
    expect(fromCloudEvent(String(body))).toMatchObject({ id: 'sdk-1', source: 'system', payload: { total: 2 }, userId: 'u-9' });
  });
});
