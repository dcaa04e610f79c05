import { describe, expect, it } from 'vitest';
import { transportName, transportServers } from '../../../lib/asyncapi/transport-servers.js';
import { MemoryTransport } from '../../../lib/index.js';

describe('transportServers', () => {
  it('describes the Redis server from its URL, without the password', () => {
    expect(
      transportServers({ transport: 'redis', redis: { url: 'redis://app:secret@redis.internal:6380/2', keyPrefix: 'billing' } }),
    ).toEqual({
      redis: {
        host: 'redis.internal:6380',
        pathname: '/2',
        protocol: 'redis',
        title: 'Redis Streams',
        description: 'Every event is an entry of the stream billing:stream; each group of a receive operation is a consumer group of it.',
      },
    });
    expect(transportServers({ transport: 'redis', redis: { host: 'cache', password: 'secret' } }).redis).toMatchObject({
      host: 'cache:6379',
    });
    expect(transportServers({ transport: 'redis' }).redis).toMatchObject({ host: '127.0.0.1:6379' });
  });

  it('describes a Redis Cluster by its first node, and the partition streams of its events', () => {
    expect(
      transportServers({
        transport: 'redis',
        redis: { cluster: { nodes: [{ host: 'redis-a', port: 7000 }, { host: 'redis-b' }] }, keyPrefix: 'billing', partitions: 8 },
      }).redis,
    ).toMatchObject({
      host: 'redis-a:7000',
      description:
        'Every event is an entry of one of the 8 partition streams billing:{billing:<n>}:stream (n from 0), by its key; ' +
        'each group of a receive operation is a consumer group of it.',
    });
  });

  it('describes each NATS server, of a list or a comma-separated string, with the stream and the subjects', () => {
    expect(
      transportServers({ transport: 'nats', nats: { servers: ['nats://u:p@n1:4222', 'n2:4223'], stream: 'AUTH', subjectPrefix: 'auth' } }),
    ).toEqual({
      nats: {
        host: 'n1:4222',
        protocol: 'nats',
        title: 'NATS JetStream',
        description:
          'Every event is a message of the stream AUTH on the subject auth.<source>.<type>; each group of a receive operation is a durable consumer of it.',
      },
      'nats-2': expect.objectContaining({ host: 'n2:4223', protocol: 'nats' }),
    });
    expect(
      Object.values(transportServers({ transport: 'nats', nats: { servers: 'nats://n1:4222, nats://n2:4222' } })).map(({ host }) => host),
    ).toEqual(['n1:4222', 'n2:4222']);
    expect(transportServers({ transport: 'nats', nats: { subjectLayout: 'type' } }).nats?.description).toBe(
      'Every event is a message of the stream EVENTS on the subject the event type; each group of a receive operation is a durable consumer of it.',
    );
  });

  it('describes the PostgreSQL server and its database, without the password', () => {
    expect(
      transportServers({ transport: 'postgres', postgres: { connectionString: 'postgres://app:secret@db:5433/orders', schema: 'events' } }),
    ).toEqual({
      postgres: {
        host: 'db:5433',
        pathname: '/orders',
        protocol: 'postgres',
        title: 'PostgreSQL',
        description: 'Every event is a row of events.events; each group of a receive operation has a row per event in events.deliveries.',
      },
    });
    expect(
      transportServers({ transport: 'postgres', postgres: { pool: { host: 'db', port: 5432, database: 'shop', password: 'x' } } }).postgres,
    ).toMatchObject({
      host: 'db:5432',
      pathname: '/shop',
    });
  });

  it('has no server for the memory transport nor for a transport given as an instance', () => {
    expect(transportServers({})).toEqual({});
    expect(transportServers({ transport: 'memory' })).toEqual({});
    const transport = new MemoryTransport();
    expect(transportServers({ transport })).toEqual({});
    expect(transportName({ transport })).toBe('memory');
    expect(transportName({ transport: 'nats' })).toBe('nats');
  });
});
