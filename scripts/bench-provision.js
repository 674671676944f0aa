#!/usr/bin/env node
// `npm run bench:provision`: a virtual site of two QEMU servers provisioned from the example definition
// (`outpost trial`), then per host: each provisioning phase with its duration, and outpost's own overhead —
// everything beyond moving the image (installer step) and the two boots (installer boot, first boot).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'outpost-bench-provision-'));
// example.js makes sure the example's base image is current, then runs `outpost trial` with these flags.
const run = spawnSync(
  process.execPath,
  [path.join(root, 'scripts/example.js'), '--work-dir', work, '--output', 'json'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  },
);
rmSync(work, { recursive: true, force: true });
if (run.status !== 0) {
  process.stderr.write(`outpost trial failed (exit ${run.status})\n`);
  process.exit(1);
}
const result = JSON.parse(run.stdout.toString());
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const WORK_OF_THE_HOST = ['installer', 'first-boot'];
console.log(`image build: ${s(result.image.buildMs)} (${(result.image.bytes / 2 ** 30).toFixed(1)} GiB raw)`);
for (const host of result.hosts) {
  const provisioning = host.timeline.find((p) => p.state === 'provisioning');
  console.log(`\n${host.name} (${host.network}): ${host.state}, provisioning ${s(provisioning.durationMs)}`);
  let overhead = 0;
  for (const step of provisioning.steps) {
    const hostWork = WORK_OF_THE_HOST.includes(step.step);
    if (!hostWork) overhead += step.durationMs;
    console.log(
      `  ${step.step.padEnd(14)} ${s(step.durationMs).padStart(8)}  ${hostWork ? 'image move + boot' : 'outpost'}`,
    );
  }
  const work = provisioning.durationMs - overhead;
  console.log(
    `  outpost overhead ${s(overhead)} beyond ${s(work)} of image move and boots: ` +
      `ratio ${(provisioning.durationMs / work).toFixed(3)} (total / image move + boots)`,
  );
}
console.log(`\nall hosts provisioned in ${s(result.provisioningMs)}`);
