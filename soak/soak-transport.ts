import type { EventTransport } from 'nestjs-event-broker';
import { NatsTransport } from 'nestjs-event-broker/nats';
import { PostgresTransport } from 'nestjs-event-broker/postgres';
import { RedisTransport } from 'nestjs-event-broker/redis';
import { Redis } from 'ioredis';
import { connect as connectNats } from 'nats';
import pg from 'pg';
import { ACK_TIMEOUT_MS } from './soak-constants.js';
import type { SoakRunConfig } from './soak-run-config.js';

/** The run's transport, in the run's own namespace, with short timeouts so that it recovers and drains quickly. */
export function createSoakTransport(config: SoakRunConfig): EventTransport {
  switch (config.transport) {
    case 'redis':
      return new RedisTransport({ url: config.redisUrl, keyPrefix: config.namespace, ackTimeoutMs: ACK_TIMEOUT_MS, blockMs: 500 });
    case 'nats':
      return new NatsTransport({
        servers: config.natsUrl,
        stream: config.namespace,
        subjectPrefix: config.namespace,
        ackWaitMs: ACK_TIMEOUT_MS,
        fetchExpiresMs: 1000,
      });
    case 'postgres':
      return new PostgresTransport({
        connectionString: config.databaseUrl,
        schema: config.namespace,
        ackTimeoutMs: ACK_TIMEOUT_MS,
        pollIntervalMs: 200,
      });
  }
}

/** Deletes what the run wrote on the server: its keys, streams or schema. */
export async function deleteSoakData(config: SoakRunConfig): Promise<void> {
  switch (config.transport) {
    case 'redis': {
      const client = new Redis(config.redisUrl);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${config.namespace}:*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await client.del(...keys);
        } while (cursor !== '0');
      } finally {
        client.disconnect();
      }
      return;
    }
    case 'nats': {
      const connection = await connectNats({ servers: config.natsUrl });
      try {
        const jsm = await connection.jetstreamManager();
        const stream = config.namespace;
        for (const name of [stream, `${stream}_DLQ`, `${stream}_PROGRESS`, `KV_${stream}_HISTORY`, `KV_${stream}_GROUPS`]) {
          await jsm.streams.delete(name).catch(() => false);
        }
      } finally {
        await connection.close();
      }
      return;
    }
    case 'postgres': {
      const client = new pg.Client({ connectionString: config.databaseUrl });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${config.namespace}" CASCADE`);
      } finally {
        await client.end();
      }
    }
  }
}
