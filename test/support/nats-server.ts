import { connect } from 'nats';
import { freePort } from './free-port.js';
import { TestServer } from './test-server.js';

/** A `nats-server` with JetStream storing in its own directory (or without JetStream). */
export class TestNatsServer extends TestServer {
  private constructor(
    port: number,
    private readonly jetstream: boolean,
  ) {
    super(port, 'nats-server');
  }

  static async start(options: { jetstream?: boolean } = {}): Promise<TestNatsServer> {
    const server = new TestNatsServer(await freePort(), options.jetstream ?? true);
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  protected args(): string[] {
    const args = ['-a', '127.0.0.1', '-p', String(this.port)];
    if (this.jetstream) args.push('-js', '-sd', this.dir);
    return args;
  }

  protected async ping(): Promise<boolean> {
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
