import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../lib/index.js';
import { freePort } from '../support/free-port.js';
import { deleteStreams, uniqueStream } from '../support/nats.js';
import { deleteKeys, uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait-for.js';

/** Two processes of the sample app on one transport: they split each group's work, every group gets every event. */
const prefix = uniquePrefix('instances');
const nats = uniqueStream('instances');
const TRANSPORTS = {
  redis: { env: { REDIS_KEY_PREFIX: prefix }, cleanup: () => deleteKeys(prefix) },
  nats: { env: { NATS_STREAM: nats.stream, NATS_SUBJECT_PREFIX: nats.subjectPrefix }, cleanup: () => deleteStreams(nats.stream) },
};

beforeAll(() => {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'sample-app/tsconfig.json']);
}, 60_000);

async function startInstance(env: Record<string, string>, name: string): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist-sample/main.js'], {
    env: { ...process.env, ...env, PORT: String(port), EVENT_BROKER_INSTANCE_ID: name, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => lines.push(line));
  await waitFor(() => lines.some((line) => line.includes('Listening on')), `sample instance ${name} to listen`, 30_000);
  return { url: `http://127.0.0.1:${port}`, process: child };
}

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  return (await response.json()) as T;
}

for (const [transport, setup] of Object.entries(TRANSPORTS)) {
  describe(`two sample-app processes on ${transport}`, () => {
    const instances: { url: string; process: ChildProcess }[] = [];

    afterAll(async () => {
      for (const instance of instances) instance.process.kill('SIGTERM');
      await Promise.all(instances.map((instance) => new Promise((resolve) => instance.process.once('exit', resolve))));
      await setup.cleanup();
    });

    it('split the work of one handler group, and every group gets every event', async () => {
      const env = { EVENT_BROKER_TRANSPORT: transport, ...setup.env };
      instances.push(await startInstance(env, `${transport}-a`), await startInstance(env, `${transport}-b`));
      const [a, b] = instances;
      const count = 40;
      await Promise.all(
        Array.from({ length: count }, (_, n) =>
          fetch(`${a.url}/users`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: `U${n}`, email: `u${n}@example.com` }),
          }),
        ),
      );
      await waitFor(
        async () => {
          const events = await json<BrokerEvent[]>(`${b.url}/events?type=public.users.create&limit=100`);
          return events.length === count && events.every((event) => event.status === 'completed');
        },
        'every event completed by all four groups',
        30_000,
      );
      const countsA = await json<{ create?: number }>(`${a.url}/analytics`);
      const countsB = await json<{ create?: number }>(`${b.url}/analytics`);
      expect((countsA.create ?? 0) + (countsB.create ?? 0)).toBe(count);
      expect(countsA.create ?? 0).toBeGreaterThan(0);
      expect(countsB.create ?? 0).toBeGreaterThan(0);
    }, 90_000);
  });
}
