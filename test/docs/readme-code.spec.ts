import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CHECK_DIR = '.readme-check';

describe('README', () => {
  it('has TypeScript blocks that all compile against the package', () => {
    const readme = readFileSync('README.md', 'utf8');
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);
    expect(blocks.length).toBeGreaterThan(10);
    rmSync(CHECK_DIR, { recursive: true, force: true });
    mkdirSync(CHECK_DIR);
    const files = blocks.map((block, index) => {
      const file = `block-${String(index).padStart(2, '0')}.ts`;
      writeFileSync(join(CHECK_DIR, file), block);
      return file;
    });
    writeFileSync(
      join(CHECK_DIR, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.json',
        compilerOptions: { noEmit: true, rootDir: '..', noUnusedLocals: false },
        include: files,
      }),
    );
    let output = '';
    try {
      execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', join(CHECK_DIR, 'tsconfig.json')], { encoding: 'utf8' });
    } catch (error) {
      output = (error as { stdout?: string }).stdout ?? String(error);
    } finally {
      rmSync(CHECK_DIR, { recursive: true, force: true });
    }
    expect(output).toBe('');
  }, 60_000);
});
