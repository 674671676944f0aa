#!/usr/bin/env node
// `npm run bench:provision`: the virtual site with Kubernetes (`outpost trial`: three QEMU servers, the
// initializer first, then a second server and an agent) and, measured in the same run, per host each
// provisioning step against the machine's own work (image move: the installer step; boots: the installer
// and first boot), per node the time to Ready against that work, and for the cluster `cluster up` to every
// node Ready against the critical path of that work (src/trial/figures.ts). Ratios, no limits.
// `--provision-only` benchmarks the provisioning-only trial (two servers, no cluster) instead.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'outpost-bench-provision-'));
const provisionOnly = process.argv.includes('--provision-only');
// example.js makes sure the example's base image is current, then runs `outpost trial` with these flags.
const run = spawnSync(
  process.execPath,
  [
    path.join(root, 'scripts/example.js'),
    '--work-dir',
    work,
    '--output',
    'json',
    ...(provisionOnly ? ['--provision-only'] : []),
  ],
  { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 },
);
rmSync(work, { recursive: true, force: true });
if (run.stdout.length === 0) {
  process.stderr.write(`outpost trial failed (exit ${run.status})\n`);
  process.exit(1);
}
const { provisionFigures } = await import('../src/trial/figures.ts');
const result = JSON.parse(run.stdout.toString());
console.log(provisionFigures(result));
if (run.status !== 0) process.exitCode = 1;
