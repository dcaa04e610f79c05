import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

/**
 * A `nats-server` of the test's own, on a free port, with JetStream storing in a directory of its
 * own (or without JetStream): it can be killed and restarted without losing what it acknowledged.
 */
export class TestNatsServer {
  private process?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'event-broker-nats-'));

  private constructor(
    readonly port: number,
    private readonly jetstream: boolean,
  ) {}

  static async start(options: { jetstream?: boolean } = {}): Promise<TestNatsServer> {
    const server = new TestNatsServer(await freePort(), options.jetstream ?? true);
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    const args = ['-a', '127.0.0.1', '-p', String(this.port)];
    if (this.jetstream) args.push('-js', '-sd', this.dir);
    this.process = spawn('nats-server', args, { stdio: 'ignore' });
    await waitFor(() => this.ping(), `nats-server on port ${this.port} to answer`, 10_000);
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async ping(): Promise<boolean> {
    try {
      const connection = await connect({ servers: this.url, reconnect: false, timeout: 500 });
      if (this.jetstream) await connection.jetstreamManager();
      await connection.close();
      return true;
    } catch {
      return false;
    }
  }
}
