import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { TestRedisCluster } from '../../support/redis-cluster.js';

describe('TestRedisCluster', () => {
  it('serves keys of every slot through an ioredis Cluster client, the slots spread over the three masters', async () => {
    const cluster = await TestRedisCluster.start({ masters: 3 });
    const client = new Cluster(cluster.nodes);
    try {
      const keys = ['{a}:key', '{b}:key', '{c}:key', '{d}:key', '{e}:key', '{f}:key'];
      for (const key of keys) await client.set(key, key);
      expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(keys);
      expect(new Set(await Promise.all(keys.map((key) => cluster.masterOf(key)))).size).toBe(3);
      expect((await cluster.masters()).toSorted()).toEqual(cluster.nodes.map((node) => node.port).toSorted());
    } finally {
      client.disconnect();
      await cluster.stop();
    }
  });

  it('with a replica per master, a killed master is replaced by its replica and its keys stay readable', async () => {
    const cluster = await TestRedisCluster.start({ masters: 3, replicasPerMaster: 1 });
    const client = new Cluster(cluster.nodes);
    try {
      await client.set('{a}:key', 'kept');
      const master = await cluster.masterOf('{a}:key');
      await cluster.kill(master!);
      await cluster.waitUntilHealthy();
      expect(await cluster.masters()).not.toContain(master);
      expect(await cluster.masterOf('{a}:key')).not.toBe(master);
      expect(await client.get('{a}:key')).toBe('kept');
    } finally {
      client.disconnect();
      await cluster.stop();
    }
  });
});
