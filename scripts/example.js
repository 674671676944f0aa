#!/usr/bin/env node
// `npm run example`: builds example.yaml. The example's base image (a small Debian 12 made from Debian
// packages) is created on first use from the same builder the tests use, then kept in base-images/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const base = path.join(root, 'base-images', 'debian-12-outpost-base.raw');

if (!existsSync(base)) {
  process.stderr.write(
    `${path.relative(root, base)} is missing: building it from Debian packages (a few minutes the first time)\n`,
  );
  const { ensureDebianBaseImage } = await import('../test/fixtures/base-images.ts');
  const cached = await ensureDebianBaseImage();
  const copy = spawnSync('cp', ['--sparse=always', cached, `${base}.part`], { stdio: 'inherit' });
  if (copy.status !== 0) process.exit(1);
  spawnSync('mv', [`${base}.part`, base], { stdio: 'inherit' });
}

const build = spawnSync(
  process.execPath,
  [
    path.join(root, 'bin/outpost.js'),
    'build',
    '--config-dir',
    root,
    '--definition-file',
    'example.yaml',
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
process.exit(build.status ?? 1);
