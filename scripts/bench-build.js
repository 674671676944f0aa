#!/usr/bin/env node
// `npm run bench:build`: the build's wall time on a 4 GiB sparse base image with about 1 GiB used, next to
// the floor measured in the same run on the same image: `cp --sparse=always` + `sha256sum` (what a user
// would otherwise run by hand), and the same copy plus an OpenSSL-speed SHA-256 (Node's crypto) for reference.
// Two rounds each, alternating; the best floor is compared with the first build (which also hashes the
// base image) and the second (which finds that hash remembered). Target: build <= 1.5x the floor.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const { ensureDebianBaseImage } = await import('../test/fixtures/base-images.ts');
const { readImagePartitions } = await import('../src/image/disk.ts');

const GiB = 2 ** 30;
const work = mkdtempSync(path.join(process.env.BENCH_DIR ?? '/var/tmp', 'outpost-bench-'));
const sh = (cmd, args) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const seconds = (t0) => (performance.now() - t0) / 1000;

function makeBase(file) {
  sh('cp', ['--sparse=always', fixture, file]);
  sh('truncate', ['-s', String(4 * GiB), file]);
  sh('sgdisk', ['--move-second-header', file]);
  sh('growpart', [file, '2']);
  const rootPart = readImagePartitions(file).partitions.find((p) => p.number === 2);
  const loop = sh('losetup', [
    '--find',
    '--show',
    '--offset',
    String(rootPart.start),
    '--sizelimit',
    String(rootPart.size),
    file,
  ]);
  const mnt = path.join(work, 'mnt');
  mkdirSync(mnt, { recursive: true });
  try {
    spawnSync('e2fsck', ['-f', '-p', loop]);
    sh('resize2fs', [loop]);
    sh('mount', [loop, mnt]);
    try {
      // Incompressible data so the image really holds about 1 GiB, like a vendor image with its packages.
      const used = Number(sh('df', ['--output=used', '-B1', mnt]).split('\n')[1]);
      const fill = Math.max(0, GiB - used);
      sh('dd', [
        'if=/dev/urandom',
        `of=${path.join(mnt, 'var/lib/bench-payload.bin')}`,
        'bs=1M',
        `count=${Math.round(fill / 2 ** 20)}`,
        'status=none',
      ]);
    } finally {
      sh('umount', [mnt]);
    }
  } finally {
    sh('losetup', ['--detach', loop]);
  }
}

function nodeSha256(file) {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = openSync(file, 'r');
  for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) {
    hash.update(buf.subarray(0, n));
  }
  closeSync(fd);
  return hash.digest('hex');
}

function floor(base, hasher) {
  const copy = path.join(work, 'floor.raw');
  const t0 = performance.now();
  sh('cp', ['--sparse=always', base, copy]);
  if (hasher === 'sha256sum') sh('sha256sum', [copy]);
  else nodeSha256(copy);
  const t = seconds(t0);
  rmSync(copy);
  return t;
}

function build(config) {
  rmSync(path.join(config, 'bench.raw'), { force: true });
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      path.join(root, 'bin/outpost.js'),
      'build',
      '--config-dir',
      config,
      '--definition-file',
      'bench.yaml',
      '-o',
      'json',
    ],
    {
      encoding: 'utf8',
    },
  );
  const t = seconds(t0);
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
  return { t, steps: JSON.parse(r.stdout).steps };
}

const fixture = await ensureDebianBaseImage();
try {
  const config = path.join(work, 'config');
  mkdirSync(path.join(config, 'base-images'), { recursive: true });
  const base = path.join(config, 'base-images', 'bench-base.raw');
  process.stdout.write('preparing a 4 GiB sparse base image with about 1 GiB used...\n');
  makeBase(base);
  const allocated = Number(sh('du', ['-B1', base]).split('\t')[0]);
  writeFileSync(
    path.join(config, 'bench.yaml'),
    `apiVersion: 1.3\nimage:\n  imageType: raw\n  arch: x86_64\n  baseImage: bench-base.raw\n  outputImageName: bench.raw\n` +
      `operatingSystem:\n  kernelArgs:\n    - outpost.bench=1\n  users:\n    - username: bench\n      createHomeDir: true\n      sshKeys:\n        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBLAnPUuyoMpYB6Z9VwgeXm+5shckBxwMez5xP6sXlO3 bench\n`,
  );
  const rounds = { floor: [], floorNode: [], build: [] };
  let lastSteps = [];
  for (let i = 0; i < 2; i++) {
    rounds.floor.push(floor(base, 'sha256sum'));
    rounds.floorNode.push(floor(base, 'node'));
    const b = build(config);
    rounds.build.push(b.t);
    lastSteps = b.steps;
  }
  const best = (xs) => Math.min(...xs);
  const f = best(rounds.floor);
  const fn = best(rounds.floorNode);
  // Round 1 hashes the base image; round 2 finds its hash remembered from round 1 (same file, unchanged).
  const [cold, warm] = rounds.build;
  process.stdout.write(
    `base image: 4.00 GiB apparent, ${(allocated / GiB).toFixed(2)} GiB allocated\n` +
      `floor (cp --sparse=always + sha256sum):   ${f.toFixed(2)} s   (rounds: ${rounds.floor.map((x) => x.toFixed(2)).join(', ')})\n` +
      `floor (cp --sparse=always + Node sha256): ${fn.toFixed(2)} s   (rounds: ${rounds.floorNode.map((x) => x.toFixed(2)).join(', ')})\n` +
      `outpost build, first:                     ${cold.toFixed(2)} s   (hashes the base image too)\n` +
      `outpost build, again:                     ${warm.toFixed(2)} s   (base image hash remembered)\n` +
      `ratio build/floor (cp + sha256sum): ${(cold / f).toFixed(2)}x first, ${(warm / f).toFixed(2)}x again (target <= 1.5x)\n` +
      `ratio against the Node-hash floor:  ${(cold / fn).toFixed(2)}x first, ${(warm / fn).toFixed(2)}x again\n` +
      `last build's steps: ${lastSteps.map((s) => `${s.id} ${(s.ms / 1000).toFixed(2)}s`).join(', ')}\n`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
