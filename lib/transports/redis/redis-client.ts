import type { Cluster, Redis } from 'ioredis';

/** A connection to one Redis server or to a Redis Cluster: the transport issues the same commands to both. */
export type RedisClient = Redis | Cluster;

/** Where `client` connects, for log lines and errors: `host:port`, or the cluster's nodes. */
export function describeClient(client: RedisClient): string {
  if (!client.isCluster) {
    const { host, port } = (client as Redis).options;
    return `${host}:${port}`;
  }
  const nodes = (client as Cluster).nodes().map(({ options }) => `${options.host}:${options.port}`);
  return `the Redis Cluster of ${nodes.join(', ') || 'nodes not reached yet'}`;
}
