import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildReport } from '../../src/build/build-image.ts';
import { withCleanup } from '../../src/image/cleanup.ts';
import { hashFile } from '../../src/image/copy.ts';
import { btrfsReadOnly, openRootFilesystem } from '../../src/image/root-fs.ts';
import { ensureSlMicroLikeImage } from '../fixtures/base-images.ts';
import { type ConfigDir, cli, loopDevicesUnder, makeConfigDir, mountsUnder } from './helpers.ts';

const definition = `apiVersion: 1.3
image:
  imageType: raw
  arch: x86_64
  baseImage: slmicro.raw
  outputImageName: site.raw
operatingSystem:
  kernelArgs:
    - outpost.site=lab
  users:
    - username: edge
      createHomeDir: true
      sshKeys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBLAnPUuyoMpYB6Z9VwgeXm+5shckBxwMez5xP6sXlO3 edge@example
  rawConfiguration:
    diskSize: 1G
`;

describe('building against an SL Micro-like btrfs image', () => {
  let config: ConfigDir;
  let report: BuildReport;
  let base: string;
  let baseHash: string;
  const output = () => path.join(config.dir, 'site.raw');

  beforeAll(async () => {
    base = await ensureSlMicroLikeImage();
    baseHash = await hashFile(base);
    config = makeConfigDir({ baseImage: base, baseName: 'slmicro.raw', definition });
    mkdirSync(path.join(config.dir, 'tmp'));
    const r = spawnSync(
      process.execPath,
      [cli, 'build', '--config-dir', config.dir, '--definition-file', 'definition.yaml', '-o', 'json'],
      {
        encoding: 'utf8',
        env: { ...process.env, TMPDIR: path.join(config.dir, 'tmp') },
        timeout: 300_000,
      },
    );
    if (r.status !== 0) throw new Error(`build failed (${r.status}): ${r.stderr}`);
    report = JSON.parse(r.stdout);
  }, 600_000);
  afterAll(() => config?.remove());

  it('leaves the base image untouched', async () => {
    expect(await hashFile(base)).toBe(baseHash);
    expect(report.inputs.find((i) => i.role === 'base-image')?.sha256).toBe(baseHash);
  });

  it('detects combustion from os-release and grows the btrfs root online', () => {
    expect(report.image).toMatchObject({
      engine: 'combustion',
      engineSource: 'detected',
      rootFilesystem: 'btrfs',
      rootPartition: 3,
    });
    expect(report.image.rootGrown).toBe(true);
  });

  it('writes the bundle into the default snapshot, labels the filesystem INSTALL and restores the read-only property', async () => {
    await withCleanup(async (stack) => {
      const root = await openRootFilesystem(stack, output(), { readOnly: true });
      const mnt = root.mount.dir;
      expect(root.fs.label).toBe('INSTALL');
      expect(root.fs.sizeBytes).toBeGreaterThan(900 * 2 ** 20);
      // The mount shows the default subvolume: it must still be the read-only snapshot.
      const defaultSubvol = execFileSync('btrfs', ['subvolume', 'get-default', mnt], { encoding: 'utf8' });
      expect(defaultSubvol).toContain('@/.snapshots/1/snapshot');
      expect(await btrfsReadOnly(mnt)).toBe(true);
      expect(existsSync(path.join(mnt, 'combustion/script'))).toBe(true);
      expect(readFileSync(path.join(mnt, 'etc/os-release'), 'utf8')).toContain('ID="sl-micro"');
      expect(existsSync(path.join(mnt, 'etc/systemd/system/outpost-firstboot.service'))).toBe(false);
      expect(readFileSync(path.join(mnt, 'etc/default/grub'), 'utf8')).toMatch(
        /^GRUB_CMDLINE_LINUX_DEFAULT=".*enforcing=1 outpost\.site=lab"$/m,
      );
      expect(readFileSync(path.join(mnt, 'boot/grub2/grub.cfg'), 'utf8')).toMatch(
        /^\tlinux\t.* outpost\.site=lab$/m,
      );
      // The snapshot's fstab named the old label: it now names the filesystem by UUID.
      expect(readFileSync(path.join(mnt, 'etc/fstab'), 'utf8')).toBe(`UUID=${root.fs.uuid} / btrfs ro 0 0\n`);
      await root.close();
    });
  });

  it('leaves no mount and no loop device behind', () => {
    expect(mountsUnder(config.dir)).toEqual([]);
    expect(loopDevicesUnder(config.dir)).toEqual([]);
  });
});
