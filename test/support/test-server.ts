import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait-for.js';

/**
 * A server process of a test's own (redis-server, nats-server) on a free port, with a data
 * directory of its own: it can be killed (SIGKILL, as a crash) and restarted on the same data.
 */
export abstract class TestServer {
  protected readonly dir: string;
  private process?: ChildProcess;

  protected constructor(
    readonly port: number,
    private readonly command: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `event-broker-${command}-`));
  }

  abstract get url(): string;

  async restart(): Promise<void> {
    this.process = spawn(this.command, this.args(), { stdio: 'ignore' });
    await waitFor(() => this.ping(), `${this.command} on port ${this.port} to answer`, 10_000);
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  protected abstract args(): string[];

  protected abstract ping(): Promise<boolean>;
}
