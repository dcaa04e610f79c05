import { Cluster, Redis } from 'ioredis';
import { connect } from 'nats';
import pg from 'pg';
import { NatsTransport } from '../../lib/nats.js';
import { OutboxTransport, PostgresTransport } from '../../lib/postgres.js';
import { RedisTransport } from '../../lib/redis.js';
import { deleteStreams, NATS_URL, partitionSubject, uniqueStream } from '../support/nats.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../support/postgres.js';
import { deleteKeys, partitionStream, REDIS_URL, uniquePrefix } from '../support/redis.js';
import type { FixtureTransaction, ForeignEvent, TransportFixture } from 'nestjs-event-broker/conformance';

// The ack timeouts and leases are well above what a loaded machine may delay a heartbeat by:
// takeovers in the suite come from brokers that stop and hand their work over, not from timeouts.

function cloudEvent(event: ForeignEvent): string {
  return JSON.stringify({ specversion: '1.0', datacontenttype: 'application/json', time: new Date().toISOString(), ...event });
}

/** A Redis fixture; with `partitions`, another program writes an event to the stream of its id's partition. */
export function redisFixture({ partitions = 1 }: { partitions?: number } = {}): TransportFixture {
  const keyPrefix = uniquePrefix('conformance');
  const write = async (key: string, body: string): Promise<void> => {
    const client = new Redis(REDIS_URL);
    try {
      await client.xadd(partitionStream(keyPrefix, partitions, key), '*', 'event', body);
    } finally {
      client.disconnect();
    }
  };
  return {
    createTransport: () => new RedisTransport({ url: REDIS_URL, keyPrefix, partitions, blockMs: 100, ackTimeoutMs: 5000 }),
    writeForeign: (event) => write(event.id, cloudEvent(event)),
    writeMalformed: (body) => write(body, body),
    teardown: () => deleteKeys(keyPrefix),
  };
}

/** A Redis Cluster fixture: four partitions spread over the cluster's masters. */
export function redisClusterFixture(nodes: { host: string; port: number }[]): TransportFixture {
  const keyPrefix = uniquePrefix('conformance');
  const partitions = 4;
  const withCluster = async (use: (cluster: Cluster) => Promise<unknown>): Promise<void> => {
    const cluster = new Cluster(nodes);
    try {
      await use(cluster);
    } finally {
      cluster.disconnect();
    }
  };
  const write = (key: string, body: string): Promise<void> =>
    withCluster((cluster) => cluster.xadd(partitionStream(keyPrefix, partitions, key), '*', 'event', body));
  return {
    createTransport: () => new RedisTransport({ cluster: { nodes }, keyPrefix, partitions, blockMs: 100, ackTimeoutMs: 5000 }),
    writeForeign: (event) => write(event.id, cloudEvent(event)),
    writeMalformed: (body) => write(body, body),
    teardown: () =>
      withCluster(async (cluster) => {
        await Promise.all(cluster.nodes('master').map((node) => deleteKeys(keyPrefix, node)));
      }),
  };
}

async function publishToNats(servers: string | string[], subject: string, body: string): Promise<void> {
  const connection = await connect({ servers });
  try {
    await connection.jetstream().publish(subject, body);
  } finally {
    await connection.close();
  }
}

/**
 * On the shared NATS server, or on `servers` (a cluster's) with each stream stored on `replicas` of
 * them; with `partitions`, another program publishes an event on the subject of its id's partition.
 */
export function natsFixture({
  servers = NATS_URL,
  replicas,
  partitions = 1,
}: { servers?: string | string[]; replicas?: number; partitions?: number } = {}): TransportFixture {
  const { stream, subjectPrefix } = uniqueStream('conformance');
  return {
    createTransport: () =>
      new NatsTransport({ servers, replicas, stream, subjectPrefix, partitions, ackWaitMs: 5000, fetchExpiresMs: 1000 }),
    writeForeign: (event) =>
      publishToNats(servers, partitionSubject(subjectPrefix, partitions, event.id, `${event.source}.${event.type}`), cloudEvent(event)),
    writeMalformed: (body) => publishToNats(servers, partitionSubject(subjectPrefix, partitions, body, 'system.public.users.create'), body),
    teardown: () => deleteStreams(stream, servers),
  };
}

/** A transaction on a connection of its own to the test database. */
async function beginTransaction(): Promise<FixtureTransaction> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query('BEGIN');
  const end = (statement: string) => async (): Promise<void> => {
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  return { client, commit: end('COMMIT'), rollback: end('ROLLBACK') };
}

export function postgresFixture(): TransportFixture {
  const schema = uniqueSchema('conformance');
  return {
    createTransport: () => new PostgresTransport({ connectionString: DATABASE_URL, schema, ackTimeoutMs: 5000, pollIntervalMs: 50 }),
    async writeForeign(event) {
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      try {
        await client.query(`INSERT INTO "${schema}".events (id, source, type, payload, user_id) VALUES ($1, $2, $3, $4, $5)`, [
          event.id,
          event.source,
          event.type,
          JSON.stringify(event.data),
          event.userid ?? null,
        ]);
      } finally {
        await client.end();
      }
    },
    beginTransaction,
    teardown: () => dropSchema(schema),
  };
}

/** `inner`'s transports behind an outbox in a schema of its own; other programs write to the inner transport's wire. */
export function outboxFixture(inner: TransportFixture): TransportFixture {
  const schema = uniqueSchema('conformance_outbox');
  return {
    createTransport: () => new OutboxTransport(inner.createTransport(), { connectionString: DATABASE_URL, schema, pollIntervalMs: 50 }),
    writeForeign: inner.writeForeign,
    writeMalformed: inner.writeMalformed,
    beginTransaction,
    async teardown() {
      await Promise.all([inner.teardown(), dropSchema(schema)]);
    },
  };
}
