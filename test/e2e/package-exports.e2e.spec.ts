import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as api from '../../lib/index.js';

const DESIGN_NAMES = [
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
  it('exports the public names of DESIGN §1–§2', () => {
    expect(Object.keys(api)).toEqual(expect.arrayContaining(DESIGN_NAMES));
  });

  it('has an entry point per durable transport, for CommonJS and ESM', () => {
    const probe = `[typeof r.RedisTransport, typeof n.NatsTransport, typeof p.PostgresTransport, typeof p.OutboxTransport].join(' ')`;
    const cjs = `const r = require('nestjs-event-broker/redis'); const n = require('nestjs-event-broker/nats'); const p = require('nestjs-event-broker/postgres'); console.log(${probe})`;
    const esm = `import * as r from 'nestjs-event-broker/redis'; import * as n from 'nestjs-event-broker/nats'; import * as p from 'nestjs-event-broker/postgres'; console.log(${probe})`;
    expect(runNode(['-e', cjs])).toBe('function function function function');
    expect(runNode(['--input-type=module', '-e', esm])).toBe('function function function function');
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
