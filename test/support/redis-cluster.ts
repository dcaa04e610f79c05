import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { TestServer } from './test-server.js';
import { waitFor } from './wait-for.js';

const run = promisify(execFile);

/** One `redis-server` of a test cluster, with cluster mode on and a short node timeout (a failover within seconds). */
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
      '--appendonly',
      'yes',
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
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a master is unreachable before its replica takes over (default 1000 ms). */
  nodeTimeoutMs?: number;
}

/**
 * A Redis Cluster of the test's own on free ports (`redis-cli --cluster create`), each node with
 * a data directory of its own: a node can be killed (SIGKILL) to make its replica take over.
 */
export class TestRedisCluster {
  private constructor(
    private readonly servers: ClusterNodeServer[],
    private readonly replicasPerMaster: number,
  ) {}

  static async start({ masters, replicasPerMaster = 0, nodeTimeoutMs = 1000 }: TestRedisClusterOptions): Promise<TestRedisCluster> {
    const servers: ClusterNodeServer[] = [];
    for (let n = 0; n < masters * (1 + replicasPerMaster); n++) servers.push(new ClusterNodeServer(await freePort(), nodeTimeoutMs));
    const cluster = new TestRedisCluster(servers, replicasPerMaster);
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
      await waitFor(() => cluster.healthy(), 'the cluster to be ok on every node, each master with its replicas in sync', 30_000);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Every node, masters and replicas. */
  get nodes(): { host: string; port: number }[] {
    return this.servers.map((server) => ({ host: '127.0.0.1', port: server.port }));
  }

  /** The ports of the masters, as the cluster sees them now (without those that failed). */
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

  /** The port of the master that serves `key` (the others answer MOVED). */
  async masterOf(key: string): Promise<number | undefined> {
    for (const port of await this.masters()) if ((await answer(port, (client) => client.exists(key))) !== undefined) return port;
    return undefined;
  }

  /** Kills the node on `port` at once (SIGKILL), as a crash would. */
  async kill(port: number): Promise<void> {
    await this.servers.find((server) => server.port === port)?.kill();
  }

  /** Starts the node on `port` again on its data: a master that failed over rejoins as a replica of its successor. */
  async restart(port: number): Promise<void> {
    await this.servers.find((server) => server.port === port)?.restart();
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.stop()));
  }

  /** Every live node says the cluster is ok, and every master has its replicas online (synced: a WAIT counts them). */
  private async healthy(): Promise<boolean> {
    const states = await Promise.all(
      this.servers.map((server) =>
        answer(server.port, async (client) => ({
          cluster: (await client.cluster('INFO')) as string,
          replication: await client.info('replication'),
        })),
      ),
    );
    return states.every(
      (state) =>
        state === undefined ||
        (state.cluster.includes('cluster_state:ok') &&
          (!state.replication.includes('role:master') ||
            (state.replication.match(/state=online/g) ?? []).length >= this.replicasPerMaster)),
    );
  }
}
