import { afterEach, describe, expect, it } from 'vitest';
import {
  DeadLetterNotFoundError,
  EventBrokerError,
  MemoryTransport,
  createEvent,
  type EventTransport,
  type NatsTransportOptions,
  type OutboxOptions,
  type PostgresTransportOptions,
  type RedisTransportOptions,
} from '../../../lib/index.js';
import { NatsTransport } from '../../../lib/nats.js';
import { OutboxTransport, PostgresTransport } from '../../../lib/postgres.js';
import { RedisTransport } from '../../../lib/redis.js';
import { NATS_URL, deleteStreams, uniqueStream } from '../../support/nats.js';
import { freePort } from '../../support/free-port.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../../support/postgres.js';
import { REDIS_URL, deleteKeys, uniquePrefix } from '../../support/redis.js';

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

const transports: Record<string, () => EventTransport> = {
  memory: () => new MemoryTransport(),
  redis: () => {
    const keyPrefix = uniquePrefix('standalone');
    cleanups.push(() => deleteKeys(keyPrefix));
    return new RedisTransport({ url: REDIS_URL, keyPrefix });
  },
  nats: () => {
    const names = uniqueStream('standalone');
    cleanups.push(() => deleteStreams(names.stream));
    return new NatsTransport({ servers: NATS_URL, ...names });
  },
  postgres: () => {
    const schema = uniqueSchema('standalone');
    cleanups.push(() => dropSchema(schema));
    return new PostgresTransport({ connectionString: DATABASE_URL, schema });
  },
  outbox: () => {
    const schema = uniqueSchema('standalone_outbox');
    cleanups.push(() => dropSchema(schema));
    return new OutboxTransport(new MemoryTransport(), { connectionString: DATABASE_URL, schema });
  },
};

describe.each(Object.keys(transports))('%s transport used on its own', (name) => {
  it('connects without arguments, publishes, gets the event back and closes', async () => {
    const transport = transports[name]();
    await transport.connect();
    cleanups.push(() => transport.close());
    const event = createEvent({ source: 'system', type: 'standalone.check.run', payload: { ok: true } });
    await transport.publish(event);
    expect(await transport.get(event.id)).toMatchObject({ id: event.id, type: 'standalone.check.run', payload: { ok: true } });
  });

  it('refuses to replay a dead letter it does not hold with a DeadLetterNotFoundError', async () => {
    const transport = transports[name]();
    await transport.connect();
    cleanups.push(() => transport.close());
    for (const id of ['unknown', 'bogus@group', '1-0@nogroup', '99999@nogroup']) {
      await expect(transport.replay(id)).rejects.toThrow(
        new DeadLetterNotFoundError(`Cannot replay dead letter ${id}: no such dead letter`),
      );
    }
  });
});

describe('OutboxTransport', () => {
  it("fails to connect to a database that is not there with the driver's error as the cause", async () => {
    const port = await freePort();
    const outbox = new OutboxTransport(new MemoryTransport(), { connectionString: `postgres://postgres@127.0.0.1:${port}/test` });
    const failure = await outbox.connect().then(
      () => new Error('connected'),
      (error: Error) => error,
    );
    expect(failure).toBeInstanceOf(EventBrokerError);
    expect(failure.message).toMatch(/^Cannot reach the outbox database/);
    expect(failure.cause).toBeInstanceOf(Error);
  });
});

describe('transport options', () => {
  it.each([
    [
      'RedisTransport',
      () => new RedisTransport({ shards: 4 } as RedisTransportOptions),
      'RedisTransport option shards is unknown (known options: ',
    ],
    [
      'RedisTransport',
      () => new RedisTransport({ keyprefix: 'x' } as RedisTransportOptions),
      'RedisTransport option keyprefix is unknown; did you mean keyPrefix?',
    ],
    [
      'NatsTransport',
      () => new NatsTransport({ server: NATS_URL } as NatsTransportOptions),
      'NatsTransport option server is unknown; did you mean servers?',
    ],
    [
      'PostgresTransport',
      () => new PostgresTransport({ connectionstring: DATABASE_URL } as PostgresTransportOptions),
      'PostgresTransport option connectionstring is unknown; did you mean connectionString?',
    ],
    [
      'OutboxTransport',
      () => new OutboxTransport(new MemoryTransport(), { batchsize: 10 } as OutboxOptions),
      'Outbox option batchsize is unknown; did you mean batchSize?',
    ],
  ])('%s refuses an unknown option, naming it', (_name, build, message) => {
    expect(build).toThrow(message);
  });

  it("passes on what another library's options hold (ioredis TLS, pg.Pool) unchecked", () => {
    expect(() => new RedisTransport({ tls: { rejectUnauthorized: false, servername: 'cache' } })).not.toThrow();
    expect(() => new PostgresTransport({ pool: { connectionString: DATABASE_URL, max: 3, idleTimeoutMillis: 100 } })).not.toThrow();
  });
});
