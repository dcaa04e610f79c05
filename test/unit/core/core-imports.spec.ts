import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const core = resolve(dirname(fileURLToPath(import.meta.url)), '../../../lib/core');
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(IMPORT)].map((match) => match[1] ?? match[2]);
}

describe('lib/core', () => {
  const files = readdirSync(core, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'));

  it('imports nothing from the transports, the Nest layer or other folders of the package', () => {
    const outside = files.flatMap((name) =>
      importsOf(join(core, name))
        .filter((specifier) => specifier.startsWith('.'))
        .filter((specifier) => relative(core, resolve(dirname(join(core, name)), specifier)).startsWith('..'))
        .map((specifier) => `${name} imports ${specifier}`),
    );
    expect(files.length).toBeGreaterThan(10);
    expect(outside).toEqual([]);
  });

  it('does not import Nest', () => {
    const nest = files.flatMap((name) =>
      importsOf(join(core, name))
        .filter((specifier) => specifier.startsWith('@nestjs/'))
        .map((specifier) => `${name} imports ${specifier}`),
    );
    expect(nest).toEqual([]);
  });
});
