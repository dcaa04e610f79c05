import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';

type Argument = string | number;

/** Runs a Lua script by its SHA1, loading it with EVAL when the server does not know it yet. */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly Argument[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /**
   * Runs the script, then `WAIT replicas timeoutMs` on the same connection to the server that ran
   * it (a pipeline goes to one node, the one of its keys): gives the script's reply and how many
   * replicas acknowledged its writes.
   */
  async runAndWait(
    client: RedisClient,
    keys: readonly string[],
    args: readonly Argument[],
    replicas: number,
    timeoutMs: number,
  ): Promise<{ reply: unknown; replicas: number }> {
    const attempt = async (script: 'evalsha' | 'eval'): Promise<{ reply: unknown; replicas: number }> => {
      const pipeline = client.pipeline();
      if (script === 'evalsha') pipeline.evalsha(this.sha, keys.length, ...keys, ...args);
      else pipeline.eval(this.source, keys.length, ...keys, ...args);
      pipeline.call('WAIT', replicas, timeoutMs);
      const [[scriptError, reply] = [null, null], [waitError, acknowledged] = [null, 0]] = (await pipeline.exec()) ?? [];
      if (scriptError) throw scriptError;
      if (waitError) throw waitError;
      return { reply, replicas: Number(acknowledged) };
    };
    try {
      return await attempt('evalsha');
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return attempt('eval');
    }
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
