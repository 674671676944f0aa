#!/usr/bin/env node
// `npm run bench:provision`: the virtual site with Kubernetes (`outpost trial`: three QEMU servers, the
// initializer first, then a second server and an agent) and, measured in the same run:
// - per host, each provisioning step, and the work that is the machine's — moving the image (installer
//   step: installer boot + image written and verified) and the boot from disk (first-boot step) — against
//   outpost's own steps;
// - per node, the time from its provisioning start to its node Ready, against that image move plus boots;
// - for the cluster, `cluster up` to every node Ready, against the critical path of image moves and boots
//   (the initializer's, then the slowest of the hosts that wait for it).
// Ratios, no limits: what the numbers mean depends on the machine.
// `--provision-only` benchmarks the provisioning-only trial (two servers, no cluster) as before.
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
if (run.status !== 0 && run.stdout.length === 0) {
  process.stderr.write(`outpost trial failed (exit ${run.status})\n`);
  process.exit(1);
}
const result = JSON.parse(run.stdout.toString());
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const ratio = (a, b) => (b > 0 ? (a / b).toFixed(3) : 'n/a');
/** The steps that are the machine's work: the installer (boot + image moved and verified) and the boot from disk. */
const WORK_OF_THE_HOST = ['installer', 'first-boot'];

console.log(`image build: ${s(result.image.buildMs)} (${(result.image.bytes / 2 ** 30).toFixed(1)} GiB raw)`);
/** Per host: its provisioning phase, the machine's work in it, and when it started (epoch ms). */
const machineWork = new Map();
for (const host of result.hosts) {
  const provisioning = host.timeline.find((p) => p.state === 'provisioning');
  if (!provisioning) {
    console.log(`\n${host.name}: ${host.state}, never provisioned`);
    continue;
  }
  const role = host.initializer ? 'server, initializer' : (host.role ?? host.network ?? '');
  console.log(`\n${host.name} (${role}): ${host.state}, provisioning ${s(provisioning.durationMs)}`);
  let overhead = 0;
  for (const step of provisioning.steps) {
    const hostWork = WORK_OF_THE_HOST.includes(step.step);
    if (!hostWork) overhead += step.durationMs;
    console.log(
      `  ${step.step.padEnd(14)} ${s(step.durationMs).padStart(8)}  ${hostWork ? 'image move + boot' : 'outpost'}`,
    );
  }
  const machine = provisioning.durationMs - overhead;
  machineWork.set(host.name, { machine, startedAt: Date.parse(provisioning.startedAt) });
  console.log(
    `  outpost overhead ${s(overhead)} beyond ${s(machine)} of image move and boots: ` +
      `ratio ${ratio(provisioning.durationMs, machine)} (provisioning / image move + boots)`,
  );
  if (host.readyMs !== undefined) {
    const toReady = result.upAt + host.readyMs - Date.parse(provisioning.startedAt);
    console.log(
      `  node Ready ${s(toReady)} after its provisioning started: ratio ${ratio(toReady, machine)} ` +
        `(time to Ready / image move + boots), RKE2 ${s(toReady - provisioning.durationMs)} after provisioned`,
    );
  }
}

if (provisionOnly) {
  console.log(`\nall hosts provisioned in ${s(result.provisioningMs)}`);
} else {
  const initializer = result.hosts.find((h) => h.initializer);
  const others = result.hosts.filter((h) => !h.initializer).map((h) => machineWork.get(h.name)?.machine ?? 0);
  const criticalPath = (machineWork.get(initializer?.name)?.machine ?? 0) + Math.max(0, ...others);
  if (result.readyMs !== undefined) {
    console.log(
      `\ncluster: every node Ready ${s(result.readyMs)} after cluster up; critical path of image moves and ` +
        `boots ${s(criticalPath)} (initializer, then the slowest joiner): ratio ${ratio(result.readyMs, criticalPath)}`,
    );
  } else {
    console.log(`\ncluster: not Ready (${result.error ?? 'unknown'})`);
    process.exitCode = 1;
  }
}
