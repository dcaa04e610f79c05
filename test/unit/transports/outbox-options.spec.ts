import { describe, expect, it } from 'vitest';
import { MemoryTransport } from '../../../lib/index.js';
import { OutboxTransport } from '../../../lib/postgres.js';

describe('OutboxTransport options', () => {
  it('refuses a batch size or poll interval that is not a positive integer, naming it', () => {
    const inner = new MemoryTransport();
    expect(() => new OutboxTransport(inner, { batchSize: 0 })).toThrow('Outbox option batchSize must be a positive integer, got 0');
    expect(() => new OutboxTransport(inner, { pollIntervalMs: 2.5 })).toThrow(
      'Outbox option pollIntervalMs must be a positive integer, got 2.5',
    );
  });

  it('refuses a schema that is not a lower-case identifier', () => {
    expect(() => new OutboxTransport(new MemoryTransport(), { schema: 'Bad-Name' })).toThrow(
      'Outbox option schema must be a lower-case identifier, got "Bad-Name"',
    );
  });
});
