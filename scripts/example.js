#!/usr/bin/env node
// `npm run example`: a whole virtual site on this machine from example.yaml (`outpost trial`) — one image
// is built with an RKE2 node in it (the lab's stand-in release), the management service and a lab of three
// QEMU servers on a site network start, the service provisions them over Redfish virtual media and tracks
// the cluster until every node is Ready, then the timeline, `cluster describe` and kubectl's
// `get nodes -o wide` are printed. The example's base image (a small Debian
// 12 made from Debian packages) is created on first use from the same builder the tests use, and
// refreshed when that builder changes. `--base-only` stops after the base image.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const base = path.join(root, 'base-images', 'debian-12-outpost-base.raw');
const source = `${path.join(root, 'base-images', '.debian-12-outpost-base.source')}`;

const { ensureDebianBaseImage } = await import('../test/fixtures/base-images.ts');
if (!existsSync(base)) {
  process.stderr.write(
    `${path.relative(root, base)} is missing: building it from Debian packages (a few minutes the first time)\n`,
  );
}
const cached = await ensureDebianBaseImage();
if (
  !existsSync(base) ||
  !existsSync(source) ||
  readFileSync(source, 'utf8').trim() !== path.basename(cached)
) {
  const copy = spawnSync('cp', ['--sparse=always', cached, `${base}.part`], { stdio: 'inherit' });
  if (copy.status !== 0) process.exit(1);
  spawnSync('mv', [`${base}.part`, base], { stdio: 'inherit' });
  writeFileSync(source, `${path.basename(cached)}\n`);
}
if (process.argv.includes('--base-only')) process.exit(0);

const trial = spawnSync(
  process.execPath,
  [
    path.join(root, 'bin/outpost.js'),
    'trial',
    '--config-dir',
    root,
    '--definition-file',
    'example.yaml',
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
process.exit(trial.status ?? 1);
