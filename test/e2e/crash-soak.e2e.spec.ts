import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { SoakVerdict } from '../../soak/soak-verdict.interface.js';
import { REDIS_URL } from '../support/redis.js';

const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), 'event-broker-soak-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run soak', () => {
  it('passes a short crash soak on Redis: workers and the producer killed, nothing lost, dead letters as planned', async () => {
    // Built from the package in dist/ (npm test builds it first), as `npm run soak` does.
    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'soak/tsconfig.json']);
    const args = ['dist-soak/run.js', '--transport=redis', '--events', '200', '--seconds', '8', '--redis-url', REDIS_URL, '--out', out];
    const result = await run(process.execPath, args).catch((error: { code: number; stdout: string }) => error);
    const [folder] = readdirSync(out);
    const verdict = JSON.parse(readFileSync(join(out, folder, 'verdict.json'), 'utf8')) as SoakVerdict;

    expect(verdict.failures).toEqual([]);
    expect('code' in result ? result.code : 0).toBe(0);
    expect(verdict).toMatchObject({ passed: true, events: { planned: 200, acknowledged: 200 }, kills: { producers: 1 } });
    expect(verdict.kills.workers).toBeGreaterThanOrEqual(2);
    expect(verdict.deadLetters.byGroup['soak.mailer'].found).toBe(verdict.events.alwaysFailing);
  }, 90_000);
});
