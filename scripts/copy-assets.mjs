// Copies what lib/ holds besides TypeScript (the dashboard's page) into dist/, where tsc does not put it.
import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

for (const entry of readdirSync('lib', { recursive: true, withFileTypes: true })) {
  if (entry.isFile() && entry.name.endsWith('.html')) {
    const from = join(entry.parentPath, entry.name);
    cpSync(from, join('dist', from.slice('lib/'.length)));
  }
}
