import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildReport } from '../../src/build/build-image.ts';
import { withCleanup } from '../../src/image/cleanup.ts';
import { openRootFilesystem } from '../../src/image/root-fs.ts';
import { type ConfigDir, cli, loopDevicesUnder, makeConfigDir, mountsUnder } from './helpers.ts';
import { makeMbrXfsImage } from './synthetic-images.ts';

const definition = `apiVersion: 1.2
image:
  imageType: raw
  arch: x86_64
  baseImage: ubuntu.raw
  outputImageName: site.raw
operatingSystem:
  kernelArgs:
    - console=ttyS0,115200
  rawConfiguration:
    diskSize: 1G
`;

describe('building against an MBR disk with an xfs root and GRUB', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'outpost-xfs-mbr-'));
  let config: ConfigDir;
  let report: BuildReport;
  const output = () => path.join(config.dir, 'site.raw');

  beforeAll(() => {
    const base = makeMbrXfsImage(path.join(work, 'ubuntu.raw'), { grub: true });
    config = makeConfigDir({ baseImage: base, baseName: 'ubuntu.raw', definition });
    mkdirSync(path.join(config.dir, 'tmp'));
    const r = spawnSync(
      process.execPath,
      [cli, 'build', '--config-dir', config.dir, '--definition-file', 'definition.yaml', '-o', 'json'],
      { encoding: 'utf8', env: { ...process.env, TMPDIR: path.join(config.dir, 'tmp') }, timeout: 300_000 },
    );
    if (r.status !== 0) throw new Error(`build failed (${r.status}): ${r.stderr}`);
    report = JSON.parse(r.stdout);
  }, 600_000);
  afterAll(() => {
    config?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('grows the MBR partition and the xfs filesystem to the new disk size', () => {
    expect(report.image).toMatchObject({
      partitionTable: 'mbr',
      rootFilesystem: 'xfs',
      engine: 'systemd',
      rootGrown: true,
    });
    const table = JSON.parse(
      execFileSync('sfdisk', ['--json', output()], { encoding: 'utf8' }),
    ).partitiontable;
    // growpart stops 33 sectors short of the end, as it does on real disks.
    const end = table.partitions[0].start + table.partitions[0].size;
    expect(end).toBeGreaterThanOrEqual(2 ** 30 / 512 - 34);
    expect(end).toBeLessThanOrEqual(2 ** 30 / 512);
  });

  it('edits GRUB defaults and grub.cfg, and installs the first-boot unit', async () => {
    await withCleanup(async (stack) => {
      const root = await openRootFilesystem(stack, output(), { readOnly: true });
      const mnt = root.mount.dir;
      expect(root.fs.sizeBytes).toBeGreaterThan(900 * 2 ** 20);
      expect(readFileSync(path.join(mnt, 'etc/default/grub'), 'utf8')).toContain(
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash console=ttyS0,115200"',
      );
      expect(readFileSync(path.join(mnt, 'boot/grub/grub.cfg'), 'utf8')).toContain(
        '\tlinux\t/boot/vmlinuz root=LABEL=rootfs ro quiet splash console=ttyS0,115200\n',
      );
      expect(existsSync(path.join(mnt, 'etc/systemd/system/outpost-firstboot.service'))).toBe(true);
      expect(existsSync(path.join(mnt, 'combustion/script'))).toBe(true);
      await root.close();
    });
    // xfs_repair -n is the independent check that the grown filesystem is consistent.
    const part = JSON.parse(execFileSync('sfdisk', ['--json', output()], { encoding: 'utf8' })).partitiontable
      .partitions[0];
    const loop = execFileSync(
      'losetup',
      [
        '--find',
        '--show',
        '--read-only',
        '--offset',
        String(part.start * 512),
        '--sizelimit',
        String(part.size * 512),
        output(),
      ],
      { encoding: 'utf8' },
    ).trim();
    try {
      execFileSync('xfs_repair', ['-n', loop], { stdio: 'ignore' });
    } finally {
      execFileSync('losetup', ['--detach', loop]);
    }
  });

  it('leaves no mount and no loop device behind', () => {
    expect(mountsUnder(config.dir)).toEqual([]);
    expect(loopDevicesUnder(config.dir)).toEqual([]);
  });
});
