import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { TestServer } from './test-server.js';
import { waitFor } from './wait-for.js';

const run = promisify(execFile);

/** One `redis-server` of a test cluster: cluster mode on, nothing persisted, a short node timeout (a failover within seconds). */
class ClusterNodeServer extends TestServer {
  constructor(
    port: number,
    private readonly nodeTimeoutMs: number,
  ) {
    super(port, 'redis-server');
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected args(): string[] {
    return [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(this.nodeTimeoutMs),
      // A replica takes over however long ago it last heard from its master: a test kills masters soon after the start.
      '--cluster-replica-validity-factor',
      '0',
      // A replica's first sync starts at once, not after the default 5 s wait for more replicas.
      '--repl-diskless-sync-delay',
      '0',
      '--appendonly',
      'no',
      '--save',
      '',
    ];
  }

  protected async ping(): Promise<boolean> {
    return (await answer(this.port, (client) => client.ping())) === 'PONG';
  }
}

/** What `command` gives on a connection of its own to the node on `port`; `undefined` when the node does not answer. */
async function answer<T>(port: number, command: (client: Redis) => Promise<T>): Promise<T | undefined> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await command(client);
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

export interface TestRedisClusterOptions {
  masters: number;
  /** Replicas of each master (default 0); with 1, killing a master makes its replica take over. */
  replicasPerMaster?: 0 | 1;
  /** `cluster-node-timeout`: how long a master is unreachable before its replica takes over (default 1000 ms). */
  nodeTimeoutMs?: number;
}

/** A node's address, as an ioredis `Cluster` takes its start-up nodes. */
export interface RedisClusterNode {
  host: string;
  port: number;
}

/**
 * A Redis Cluster of the test's own on free ports (`redis-cli --cluster create`), each node with
 * a data directory of its own: a node can be killed (SIGKILL) to make its replica take over.
 */
export class TestRedisCluster {
  private constructor(private readonly servers: ClusterNodeServer[]) {}

  static async start({ masters, replicasPerMaster = 0, nodeTimeoutMs = 1000 }: TestRedisClusterOptions): Promise<TestRedisCluster> {
    if (masters < 3) throw new Error(`TestRedisCluster.start: masters must be at least 3 (redis-cli --cluster create), got ${masters}`);
    const servers: ClusterNodeServer[] = [];
    for (let n = 0; n < masters * (1 + replicasPerMaster); n++) servers.push(new ClusterNodeServer(await freePort(), nodeTimeoutMs));
    const cluster = new TestRedisCluster(servers);
    try {
      await Promise.all(servers.map((server) => server.restart()));
      await run('redis-cli', [
        '--cluster',
        'create',
        ...servers.map((server) => `127.0.0.1:${server.port}`),
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ]);
      // Every node, replicas too, must know the whole slot map before a client asks any of them.
      await waitFor(() => cluster.healthy({ everyNode: true }), 'the cluster to be ok on every node', 30_000);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Every node, masters and replicas, as it was started. */
  get nodes(): RedisClusterNode[] {
    return this.servers.map((server) => ({ host: '127.0.0.1', port: server.port }));
  }

  /** The ports of the masters as the cluster sees them now (a replica that took over is one, a failed master is not). */
  async masters(): Promise<number[]> {
    for (const server of this.servers) {
      const nodes = await answer(server.port, (client) => client.cluster('NODES') as Promise<string>);
      if (nodes === undefined) continue;
      return nodes.split('\n').flatMap((line) => {
        const [, address, flags] = line.split(' ');
        const set = flags?.split(',') ?? [];
        return set.includes('master') && !set.includes('fail') && !set.includes('fail?') ? [Number(address.split(/[:@]/)[1])] : [];
      });
    }
    return [];
  }

  /** The port of the master that serves `key` now. */
  async masterOf(key: string): Promise<number | undefined> {
    for (const server of this.servers) {
      const slot = await answer(server.port, (client) => client.cluster('KEYSLOT', key) as Promise<number>);
      if (slot === undefined) continue;
      const ranges = await answer(server.port, (client) => client.cluster('SLOTS'));
      const range = ranges?.find(([first, last]) => slot >= first && slot <= last);
      const master = range?.[2];
      if (master) return master[1];
    }
    return undefined;
  }

  /** Kills the node on `port` at once (SIGKILL), as a crash would. */
  async kill(port: number): Promise<void> {
    await this.server(port).kill();
  }

  /** Starts the node on `port` again, with the cluster configuration it had (it rejoins, as a replica if it was replaced). */
  async restart(port: number): Promise<void> {
    await this.server(port).restart();
  }

  /** Waits until every node that answers says the cluster is ok and every slot is served (after a failover, say). */
  async waitUntilHealthy(timeoutMs = 30_000): Promise<void> {
    await waitFor(() => this.healthy({ everyNode: false }), 'the cluster to be ok', timeoutMs);
  }

  /** Kills every node and removes their data directories. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.stop()));
  }

  private server(port: number): ClusterNodeServer {
    const server = this.servers.find((candidate) => candidate.port === port);
    if (!server) throw new Error(`TestRedisCluster: no node on port ${port} (nodes: ${this.servers.map((node) => node.port).join(', ')})`);
    return server;
  }

  /**
   * Every node that answers says the cluster is ok, serves all slots from nodes that answer (a killed
   * master no longer counts), and each replica has its master's data (a replica not yet in sync cannot take over).
   */
  private async healthy({ everyNode }: { everyNode: boolean }): Promise<boolean> {
    const states = await Promise.all(
      this.servers.map((server) =>
        answer(server.port, async (client) => ({
          port: server.port,
          info: (await client.cluster('INFO')) as string,
          slots: await client.cluster('SLOTS'),
          replication: await client.info('replication'),
        })),
      ),
    );
    const answered = states.filter((state) => state !== undefined);
    if (answered.length === 0 || (everyNode && answered.length < states.length)) return false;
    const live = new Set(answered.map((state) => state.port));
    return answered.every(
      ({ info, slots, replication }) =>
        info.includes('cluster_state:ok') &&
        info.includes('cluster_slots_ok:16384') &&
        slots.every(([, , master]) => master !== undefined && live.has(master[1])) &&
        (!replication.includes('role:slave') || replication.includes('master_link_status:up')),
    );
  }
}
