/** Config directories for build tests: a definition, the shared base image linked in, custom files when asked. */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readImagePartitions } from '../../src/image/disk.ts';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const cli = path.join(repoRoot, 'bin/outpost.js');

export interface ConfigDir {
  dir: string;
  remove: () => void;
}

/** A config dir holding `definition.yaml` and `base-images/<baseName>` (a symlink to a cached fixture). */
export function makeConfigDir(options: {
  baseImage: string;
  baseName: string;
  definition: string;
  withCustom?: boolean;
}): ConfigDir {
  const dir = mkdtempSync(path.join(tmpdir(), 'outpost-build-test-'));
  mkdirSync(path.join(dir, 'base-images'));
  symlinkSync(options.baseImage, path.join(dir, 'base-images', options.baseName));
  writeFileSync(path.join(dir, 'definition.yaml'), options.definition);
  if (options.withCustom)
    cpSync(path.join(repoRoot, 'custom'), path.join(dir, 'custom'), { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The repository's example definition, pointed at another base image name when needed. */
export function exampleDefinition(): string {
  return readFileSync(path.join(repoRoot, 'example.yaml'), 'utf8');
}

/** Loop devices whose backing file lies under `dir` (what a leaking build would leave behind). */
export function loopDevicesUnder(dir: string): string[] {
  const out = execFileSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], {
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((l) => l.includes(dir))
    .map((l) => l.trim());
}

/** Mounts whose mount point lies under `dir` (builds in tests get TMPDIR inside their config dir). */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((m) => m.split(' ')[1]?.startsWith(dir));
}

export function partitionsOf(image: string) {
  return readImagePartitions(image);
}
