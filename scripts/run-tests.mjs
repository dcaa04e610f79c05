// Runs Vitest and ends with the one summary line CI reads: `Tests: N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'event-broker-tests-'));
const report = join(dir, 'vitest.json');
const run = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);

let passed = 0;
let failed = 0;
try {
  const result = JSON.parse(readFileSync(report, 'utf8'));
  passed = result.numPassedTests;
  failed = result.numFailedTests + (result.numRuntimeErrorTests ?? 0);
  if (result.numTotalTestSuites > 0 && result.testResults.some((file) => file.status === 'failed' && file.assertionResults.length === 0))
    failed++;
} catch {
  failed++;
}
rmSync(dir, { recursive: true, force: true });
console.log(`Tests: ${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
