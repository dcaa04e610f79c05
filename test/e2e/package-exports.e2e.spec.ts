import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as api from '../../lib/index.js';

const PUBLIC_NAMES = [
  'EventBrokerModule',
  'EventPublisher',
  'OnEvent',
  'EmitsEvent',
  'EventBroker',
  'MemoryTransport',
  'createEvent',
  'eventType',
  'matchPattern',
];

function runNode(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: process.cwd(), encoding: 'utf8' }).trim();
}

describe('the package root', () => {
  it('exports the names apps are written against', () => {
    expect(Object.keys(api)).toEqual(expect.arrayContaining(PUBLIC_NAMES));
  });

  it('exposes every entry point of lib/ under its name, for CommonJS and ESM, and nothing deeper', () => {
    const entries = readdirSync('lib').filter((name) => name.endsWith('.ts') && name !== 'index.ts');
    expect(entries).toEqual(expect.arrayContaining(['redis.ts', 'nats.ts', 'postgres.ts', 'microservices.ts']));
    for (const entry of entries) {
      const specifier = `nestjs-event-broker/${entry.replace(/\.ts$/, '')}`;
      const probe = `Object.keys(m).length > 0 && Object.values(m).every((value) => value !== undefined)`;
      const cjs = runNode(['-e', `const m = require('${specifier}'); console.log(${probe})`]);
      const esm = runNode(['--input-type=module', '-e', `import * as m from '${specifier}'; console.log(${probe})`]);
      expect(`${specifier}: ${cjs} ${esm}`).toBe(`${specifier}: true true`);
    }
    expect(() => runNode(['-e', "require('nestjs-event-broker/core/event-broker')"])).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
    const { exports } = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, unknown> };
    const folders = readdirSync('lib', { withFileTypes: true }).filter((entry) => entry.isDirectory());
    expect(folders.map((folder) => folder.name).filter((name) => exports[`./${name}/*`] !== null)).toEqual([]);
  });

  it('loads no client library of a durable transport from the root', () => {
    const modules = runNode([
      '--input-type=module',
      '-e',
      "import { createRequire } from 'node:module'; await import('nestjs-event-broker'); const cache = Object.keys(createRequire(import.meta.url).cache); console.log(['ioredis', 'nats', 'pg'].filter((name) => cache.some((path) => path.includes(`/node_modules/${name}/`))).join(',') || 'none')",
    ]);
    expect(modules).toBe('none');
  });

  it('can be required from CommonJS and imported from ESM once built', () => {
    const probe = `typeof m.EventBrokerModule + ' ' + typeof m.OnEvent + ' ' + typeof m.MemoryTransport`;
    expect(runNode(['-e', `const m = require('nestjs-event-broker'); console.log(${probe})`])).toBe('function function function');
    expect(runNode(['--input-type=module', '-e', `import * as m from 'nestjs-event-broker'; console.log(${probe})`])).toBe(
      'function function function',
    );
  });
});
