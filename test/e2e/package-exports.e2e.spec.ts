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

  it('can be required from CommonJS and imported from ESM once built', () => {
    const probe = `typeof m.EventBrokerModule + ' ' + typeof m.OnEvent + ' ' + typeof m.MemoryTransport`;
    expect(runNode(['-e', `const m = require('nestjs-event-broker'); console.log(${probe})`])).toBe('function function function');
    expect(runNode(['--input-type=module', '-e', `import * as m from 'nestjs-event-broker'; console.log(${probe})`])).toBe(
      'function function function',
    );
  });
});
