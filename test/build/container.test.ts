import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianBaseImage, ensureDebianRootfsTar } from '../fixtures/base-images.ts';
import { repoRoot } from './helpers.ts';

describe('the builder container', () => {
  let rootfs: string;
  let base: string;
  beforeAll(async () => {
    rootfs = await ensureDebianRootfsTar();
    base = await ensureDebianBaseImage();
  }, 900_000);

  it('builds with podman from a local base and runs one build of example.yaml through podman run --privileged', () => {
    const r = spawnSync('bash', [path.join(repoRoot, 'scripts/ci-container.sh'), rootfs, base], {
      encoding: 'utf8',
      timeout: 1_200_000,
    });
    const output = `${r.stdout}\n${r.stderr}`;
    expect(r.status, output).toBe(0);
    expect(r.stdout).toContain('outpost-example.raw: OK');
    expect(r.stdout).toContain('outpost-example.iso: OK');
    expect(r.stdout).toContain('== container build OK');
  }, 1_300_000);
});
