import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { exampleBundle, text } from './helpers.ts';

/*
 * The generated growfs step, run for real on a loop device: a GPT disk whose only partition holds a
 * mounted filesystem, grown like a bigger disk (the backing file is extended and the loop device
 * refreshed). No udev here: the partition's device node is made from sysfs.
 * ext4 is grown online through an ioctl that needs CAP_SYS_RESOURCE, which the build machines' root
 * does not have (resize2fs: "Permission denied"): ext4 is proven by the QEMU boot test instead.
 */

const MIB = 2 ** 20;
const PART_MIB = 320; // xfs refuses filesystems under 300 MiB
const DISK_MIB = 640;
/** What growfs needs besides bash, for the run without growpart. */
const FALLBACK_TOOLS = [
  'findmnt',
  'basename',
  'readlink',
  'cat',
  'df',
  'tail',
  'tr',
  'sfdisk',
  'sgdisk',
  'partx',
  'grep',
  'xfs_growfs',
];

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function growfsScript(): Promise<string> {
  return text(await exampleBundle(), '10-growfs.sh');
}

async function mountedPartition(fstype: 'xfs' | 'btrfs') {
  const dir = await mkdtemp('/var/tmp/outpost-growfs-');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const image = path.join(dir, 'disk.img');
  await execa('truncate', ['-s', `${PART_MIB + 2}M`, image]);
  await execa('sgdisk', ['-n', `1:1M:+${PART_MIB}M`, '-t', '1:8300', image]);
  const loop = (await execa('losetup', ['-P', '--find', '--show', image])).stdout.trim();
  cleanups.push(() => execa('losetup', ['-d', loop]));
  const partName = `${path.basename(loop)}p1`;
  // The kernel does not always scan at attach time: add the partition from the table ourselves.
  if (!existsSync(`/sys/class/block/${partName}`)) await execa('partx', ['-a', loop]);
  const partDev = `/dev/${partName}`;
  if (!existsSync(partDev)) {
    const [major, minor] = (await readFile(`/sys/class/block/${partName}/dev`, 'utf8')).trim().split(':');
    await execa('mknod', [partDev, 'b', major!, minor!]);
    cleanups.push(() => rm(partDev, { force: true }));
  }
  await execa(`mkfs.${fstype}`, ['-q', '-f', partDev]);
  const mnt = path.join(dir, 'mnt');
  await mkdir(mnt);
  await execa('mount', [partDev, mnt]);
  cleanups.push(() => execa('umount', [mnt]));
  const grow = async () => {
    await execa('truncate', ['-s', `${DISK_MIB}M`, image]);
    await execa('losetup', ['-c', loop]);
  };
  const sizes = async () => ({
    partBytes: Number(await readFile(`/sys/class/block/${partName}/size`, 'utf8')) * 512,
    fsBytes: Number((await execa('df', ['-B1', '--output=size', mnt])).stdout.split('\n')[1]),
  });
  return { dir, mnt, grow, sizes };
}

async function runGrowfs(script: string, mnt: string, binDir?: string) {
  const r = await execa('/bin/bash', ['-s'], {
    input: script,
    env: { OUTPOST_GROWFS_TARGET: mnt, PATH: binDir ?? process.env.PATH },
    extendEnv: false,
    reject: false,
    all: true,
  });
  expect(r.exitCode, r.all).toBe(0);
  return r.all ?? '';
}

describe('growfs', () => {
  for (const fstype of ['xfs', 'btrfs'] as const) {
    it(
      `grows a mounted ${fstype} partition to the end of the disk, then has nothing to do`,
      { timeout: 120_000 },
      async () => {
        const script = await growfsScript();
        const disk = await mountedPartition(fstype);
        const before = await disk.sizes();
        await disk.grow();
        const out = await runGrowfs(script, disk.mnt);
        expect(out).toMatch(
          new RegExp(`growfs: .* \\(${fstype}\\) is on /dev/loop\\d+p1, partition 1 of /dev/loop\\d+`),
        );
        expect(out).toContain('growfs: before:');
        const after = await disk.sizes();
        // The partition now ends before the backup GPT (33 sectors), within the last MiB of the disk.
        expect(after.partBytes).toBeGreaterThan((DISK_MIB - 2) * MIB);
        expect(after.fsBytes).toBeGreaterThan(before.fsBytes + (DISK_MIB - PART_MIB - 40) * MIB);
        const again = await runGrowfs(script, disk.mnt);
        expect(again).toContain('growfs: the partition already filled the disk');
        expect((await disk.sizes()).partBytes).toBe(after.partBytes);
      },
    );
  }

  it('grows without growpart (sfdisk after moving the backup GPT)', { timeout: 120_000 }, async () => {
    const script = await growfsScript();
    const disk = await mountedPartition('xfs');
    const bin = path.join(disk.dir, 'bin');
    await mkdir(bin);
    for (const tool of FALLBACK_TOOLS) {
      await symlink((await execa('bash', ['-c', `command -v ${tool}`])).stdout.trim(), path.join(bin, tool));
    }
    const before = await disk.sizes();
    await disk.grow();
    const out = await runGrowfs(script, disk.mnt, bin);
    expect(out).not.toContain('NOCHANGE');
    expect((await disk.sizes()).partBytes).toBeGreaterThan((DISK_MIB - 2) * MIB);
    expect((await disk.sizes()).fsBytes).toBeGreaterThan(before.fsBytes + (DISK_MIB - PART_MIB - 40) * MIB);
    expect(await runGrowfs(script, disk.mnt, bin)).toContain('growfs: the partition already filled the disk');
  });
});
