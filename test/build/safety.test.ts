import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { planSize } from '../../src/build/sizing.ts';
import { ensureSlMicroLikeImage } from '../fixtures/base-images.ts';
import { writeFixtureRelease } from '../fixtures/rke2-release.ts';
import { type ConfigDir, cli, makeConfigDir } from './helpers.ts';
import { makeEmptyGptImage, makeMbrXfsImage } from './synthetic-images.ts';

const definition = (extra = '', output = 'site.raw') => `apiVersion: 1.3
image:
  imageType: raw
  arch: x86_64
  baseImage: slmicro.raw
  outputImageName: ${output}
operatingSystem:
  kernelArgs:
    - a=1
${extra}`;

function build(dir: string, ...args: string[]) {
  return spawnSync(
    process.execPath,
    [cli, 'build', '--config-dir', dir, '--definition-file', 'definition.yaml', ...args],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
}

describe('build input errors exit with code 2 and write nothing', () => {
  let base: string;
  let config: ConfigDir | undefined;
  beforeAll(async () => {
    base = await ensureSlMicroLikeImage();
  }, 600_000);
  afterEach(() => config?.remove());

  it('refuses an output that is the base image through a symlink', () => {
    config = makeConfigDir({
      baseImage: base,
      baseName: 'slmicro.raw',
      definition: definition('', 'alias.raw'),
    });
    symlinkSync(path.join(config.dir, 'base-images/slmicro.raw'), path.join(config.dir, 'alias.raw'));
    const r = build(config.dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is the base image .*refusing to overwrite it/);
  });

  it('refuses kubernetes without the RKE2 release in kubernetes/install, writing nothing', () => {
    config = makeConfigDir({
      baseImage: base,
      baseName: 'slmicro.raw',
      definition: definition('kubernetes:\n  version: v1.30.3+rke2r1\n'),
    });
    const r = build(config.dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('kubernetes/install:1:1: not found: it must hold the RKE2 release');
    expect(readdirSync(config.dir).filter((f) => f !== 'definition.yaml' && f !== 'base-images')).toEqual([]);
  });

  it('refuses an RKE2 archive whose checksum does not match before anything is written, naming it', async () => {
    config = makeConfigDir({
      baseImage: base,
      baseName: 'slmicro.raw',
      definition: definition('kubernetes:\n  version: v1.32.4+rke2r1\n'),
    });
    const install = path.join(config.dir, 'kubernetes/install');
    await writeFixtureRelease(install);
    appendFileSync(path.join(install, 'rke2-images-core.linux-amd64.tar.zst'), 'tampered');
    const r = build(config.dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /kubernetes\/install\/rke2-images-core\.linux-amd64\.tar\.zst:1:1: checksum mismatch: sha256 is [0-9a-f]{64}/,
    );
    expect(
      readdirSync(config.dir).filter((f) => !['definition.yaml', 'base-images', 'kubernetes'].includes(f)),
    ).toEqual([]);
  });

  it('refuses a diskSize smaller than the base image, naming the field', () => {
    config = makeConfigDir({
      baseImage: base,
      baseName: 'slmicro.raw',
      definition: definition('  rawConfiguration:\n    diskSize: 100M\n'),
    });
    const r = build(config.dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('rawConfiguration.diskSize 100M is smaller than the base image');
    expect(readdirSync(config.dir).filter((f) => f !== 'definition.yaml' && f !== 'base-images')).toEqual([]);
  });

  it('refuses a base image without a root filesystem, and kernel arguments without a boot configuration', () => {
    const work = mkdtempSync(path.join(tmpdir(), 'outpost-bad-base-'));
    try {
      const empty = makeEmptyGptImage(path.join(work, 'empty.raw'));
      config = makeConfigDir({ baseImage: empty, baseName: 'slmicro.raw', definition: definition() });
      let r = build(config.dir);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(
        'no root filesystem found (an ext4, xfs or btrfs partition with /etc/os-release); GPT partitions: 1:unknown',
      );
      config.remove();

      const noBoot = makeMbrXfsImage(path.join(work, 'noboot.raw'), { grub: false });
      config = makeConfigDir({ baseImage: noBoot, baseName: 'slmicro.raw', definition: definition() });
      r = build(config.dir);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(
        'cannot add kernel arguments: no boot configuration found (looked for /boot/grub2/grub.cfg',
      );
      expect(readdirSync(config.dir).sort()).toEqual(['base-images', 'definition.yaml']);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('prints the plan on --dry-run without writing anything', () => {
    config = makeConfigDir({ baseImage: base, baseName: 'slmicro.raw', definition: definition() });
    const r = build(config.dir, '--dry-run', '--engine', 'systemd');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /First-boot engine +systemd: install and enable outpost-firstboot.service \(option\)/,
    );
    expect(r.stdout).toMatch(
      /Kernel arguments +a=1 -> grub \(\/etc\/default\/grub, \/boot\/grub2\/grub.cfg\)/,
    );
    expect(readdirSync(config.dir).sort()).toEqual(['base-images', 'definition.yaml']);
  });
});

describe('sizing', () => {
  const MiB = 2 ** 20;
  it('keeps the size when the root has room, grows to fit otherwise, and refuses when it cannot grow', () => {
    const base = { baseSize: 1024 * MiB, payloadBytes: 100 * MiB, rootGrowable: true };
    expect(planSize({ ...base, rootFreeBytes: 600 * MiB })).toMatchObject({
      targetSize: 1024 * MiB,
      growRoot: false,
    });
    expect(planSize({ ...base, rootFreeBytes: 50 * MiB })).toMatchObject({
      targetSize: (1024 + 100 + 256 - 50) * MiB,
      growRoot: true,
    });
    expect(() => planSize({ ...base, rootFreeBytes: 50 * MiB, rootGrowable: false })).toThrow(
      /not the last partition/,
    );
    expect(planSize({ ...base, rootFreeBytes: 0, diskSize: 2048 * MiB })).toMatchObject({
      targetSize: 2048 * MiB,
      growRoot: true,
    });
    expect(() =>
      planSize({ ...base, rootFreeBytes: 0, diskSize: 1050 * MiB, diskSizeText: '1050M' }),
    ).toThrow(/diskSize 1050M leaves no room/);
  });
});
