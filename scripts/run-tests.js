#!/usr/bin/env node
// The test entry point: static checks, then vitest in two passes — the tests that boot QEMU guests one
// file at a time (two cores: parallel guests only slow each other down), then the rest in parallel.
// Ends with a plain "N passed, N failed" line. In CI a skipped test counts as a failure: everything this
// machine can run must run. Arguments (vitest filters) run one plain vitest pass instead.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const bin = (name) => path.resolve('node_modules/.bin', name);
/** Test files that boot QEMU guests. */
const GUEST_TESTS = [
  'test/e2e/',
  'test/installer/installer-boot.test.ts',
  'test/lab/qemu-boot.test.ts',
  'test/lab/qemu-site-nic.test.ts',
];
let passed = 0;
let failed = 0;
let skipped = 0;
/** Names of what failed, repeated just above the last line so a truncated log still says what. */
const failures = [];

function step(name, cmd, cmdArgs) {
  process.stdout.write(`== ${name}\n`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit' });
  if (r.status === 0) passed++;
  else {
    failed++;
    failures.push(`${name} (exit ${r.status ?? r.signal})`);
    process.stdout.write(`FAILED: ${name} (exit ${r.status ?? r.signal})\n`);
  }
}

function vitest(name, vitestArgs) {
  const dir = mkdtempSync(path.join(tmpdir(), 'outpost-tests-'));
  const report = path.join(dir, 'vitest.json');
  process.stdout.write(`== ${name}\n`);
  const started = Date.now();
  const run = spawnSync(
    bin('vitest'),
    ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...vitestArgs],
    { stdio: 'inherit' },
  );
  const failedBefore = failed;
  try {
    const result = JSON.parse(readFileSync(report, 'utf8'));
    passed += result.numPassedTests;
    failed += result.numFailedTests;
    skipped += result.numPendingTests + result.numTodoTests;
    // A file that failed to load has no tests to count: count it as one failure.
    for (const file of result.testResults) {
      const where = path.relative(process.cwd(), file.name);
      for (const test of file.assertionResults) {
        if (test.status === 'failed') {
          const why = (test.failureMessages ?? []).join(' ').split('\n')[0].slice(0, 300);
          failures.push(`${where} > ${test.fullName}: ${why}`);
        } else if (process.env.CI === 'true' && ['pending', 'skipped', 'todo'].includes(test.status)) {
          failures.push(`${where} > ${test.fullName}: skipped`);
        }
      }
      if (file.status === 'failed' && file.assertionResults.length === 0) {
        failed++;
        failures.push(`${where}: failed to load`);
        process.stdout.write(`FAILED to load: ${file.name}\n${file.message}\n`);
      }
    }
    if (result.numTotalTests === 0) failed++;
  } catch (error) {
    failed++;
    process.stdout.write(`vitest produced no report (exit ${run.status}): ${error.message}\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  if (run.status !== 0 && failed === failedBefore) failed++;
  process.stdout.write(`== ${name}: ${((Date.now() - started) / 60_000).toFixed(1)} min\n`);
}

if (args.length === 0) {
  step('typecheck', bin('tsc'), ['--noEmit']);
  step('lint', bin('biome'), ['check', 'src', 'test', 'scripts', 'bin']);
  vitest('vitest: tests that boot QEMU guests, one file at a time', [
    '--no-file-parallelism',
    ...GUEST_TESTS,
  ]);
  vitest(
    'vitest: everything else',
    GUEST_TESTS.flatMap((t) => ['--exclude', t.endsWith('/') ? `${t}**` : t]),
  );
} else {
  vitest('vitest', args);
}

if (process.env.CI === 'true' && skipped > 0) {
  process.stdout.write(`${skipped} test(s) skipped: in CI every test must run\n`);
  failed += skipped;
}
if (failures.length > 0)
  process.stdout.write(`== what failed\n${failures.map((f) => `FAILED ${f}`).join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed === 0 ? 0 : 1);
