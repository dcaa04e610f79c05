import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { TestServer } from './test-server.js';

/** A `redis-server` with an append-only file synced on every write: a restart loses nothing it acknowledged. */
export class TestRedisServer extends TestServer {
  private constructor(port: number) {
    super(port, 'redis-server');
  }

  static async start(): Promise<TestRedisServer> {
    const server = new TestRedisServer(await freePort());
    await server.restart();
    return server;
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
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ];
  }

  protected async ping(): Promise<boolean> {
    const client = new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }
}
