import { connect } from 'nats';
import { freePort } from './free-port.js';
import { TestServer } from './test-server.js';
import { waitFor } from './wait-for.js';

const CLUSTER_NAME = 'event-broker-test';

/** One `nats-server` of a test cluster: JetStream in its own store directory, routes to every other node. */
class ClusterNodeServer extends TestServer {
  constructor(
    port: number,
    readonly clusterPort: number,
    readonly name: string,
    private readonly routes: string[],
  ) {
    super(port, 'nats-server');
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  protected args(): string[] {
    const server = ['-a', '127.0.0.1', '-p', String(this.port), '-n', this.name];
    const jetStream = ['-js', '-sd', this.dir];
    const cluster = [
      '--cluster_name',
      CLUSTER_NAME,
      '--cluster',
      `nats://127.0.0.1:${this.clusterPort}`,
      '--routes',
      this.routes.join(','),
    ];
    return [...server, ...jetStream, ...cluster];
  }

  protected async ping(): Promise<boolean> {
    return jetStreamAnswers(this.url);
  }
}

/** Whether JetStream answers through `servers`: in a cluster, only once it has a meta leader. */
async function jetStreamAnswers(servers: string | string[]): Promise<boolean> {
  try {
    const connection = await connect({ servers, reconnect: false, timeout: 500 });
    try {
      const jsm = await connection.jetstreamManager({ timeout: 1000 });
      await jsm.getAccountInfo();
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/** Whether a stream of as many replicas as there are `servers` can be created (and is deleted again). */
async function canPlaceOnAll(servers: string[]): Promise<boolean> {
  try {
    const connection = await connect({ servers, reconnect: false, timeout: 500 });
    try {
      const jsm = await connection.jetstreamManager({ timeout: 2000 });
      const name = `TEST_CLUSTER_READY_${Date.now()}`;
      await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: servers.length });
      await jsm.streams.delete(name);
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/**
 * A NATS cluster with JetStream of the test's own on free ports, each node with its own name and
 * store directory: a node can be killed (SIGKILL) and restarted on the same ports and store.
 */
export class TestNatsCluster {
  private constructor(private readonly servers: ClusterNodeServer[]) {}

  static async start(size: number): Promise<TestNatsCluster> {
    if (size < 3) throw new Error(`TestNatsCluster.start: a JetStream cluster needs at least 3 nodes, got ${size}`);
    const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
    if (new Set(ports).size < ports.length) return TestNatsCluster.start(size);
    const clusterPorts = ports.slice(size);
    const routes = clusterPorts.map((port) => `nats://127.0.0.1:${port}`);
    const servers = ports.slice(0, size).map((port, n) => new ClusterNodeServer(port, clusterPorts[n], `n${n}`, routes.toSpliced(n, 1)));
    const cluster = new TestNatsCluster(servers);
    try {
      // Each node answers only once the cluster elected its JetStream meta leader: they start together.
      await Promise.all(servers.map((server) => server.restart()));
      // The meta leader may not know yet that every node runs JetStream: it would place a stream on
      // a node it cannot see, and that stream's creation would time out once that node is killed.
      await waitFor(() => canPlaceOnAll(cluster.urls), `a stream to be placed on all ${size} nodes`, 15_000);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The client URL of every node, in order. */
  get urls(): string[] {
    return this.servers.map((server) => server.url);
  }

  /** The server name (`-n`) of every node, in order: the names stream info gives its leader and replicas by. */
  get names(): string[] {
    return this.servers.map((server) => server.name);
  }

  /** Kills node `index` at once (SIGKILL), as a crash would. */
  async kill(index: number): Promise<void> {
    await this.server(index).kill();
  }

  /** Starts node `index` again on its ports and store; resolves once JetStream answers through it. */
  async restart(index: number): Promise<void> {
    await this.server(index).restart();
  }

  /** Kills every node and removes their store directories. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.stop()));
  }

  /** Waits until JetStream answers through the nodes that are up. */
  async waitUntilReady(timeoutMs = 15_000): Promise<void> {
    await waitFor(() => jetStreamAnswers(this.urls), 'the NATS cluster to have a JetStream meta leader', timeoutMs);
  }

  private server(index: number): ClusterNodeServer {
    const server = this.servers[index];
    if (!server) throw new Error(`TestNatsCluster: no node ${index} (nodes 0 to ${this.servers.length - 1})`);
    return server;
  }
}
