/**
 * Disk images at the I/O edge: reading the partition table and superblocks with plain reads, and loop
 * devices mounted by byte offset (no partition nodes are needed, so this works without udev).
 */
import { closeSync, openSync, readSync, realpathSync } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CleanupStack } from './cleanup.ts';
import { type Log, run } from './exec.ts';
import { type FilesystemInfo, PROBE_BYTES, probeFilesystem } from './filesystem-probe.ts';
import type { Held } from './journal.ts';
import { type Partition, type PartitionTable, readPartitionTable } from './partition-table.ts';

function withFile<T>(image: string, body: (read: (offset: number, length: number) => Buffer) => T): T {
  const fd = openSync(image, 'r');
  try {
    return body((offset, length) => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    });
  } finally {
    closeSync(fd);
  }
}

export function readImagePartitions(image: string, mbrSectorSize?: number): PartitionTable {
  return withFile(image, (read) => readPartitionTable(read, { mbrSectorSize }));
}

export function probePartition(image: string, partition: Partition): FilesystemInfo | undefined {
  return withFile(image, (read) =>
    probeFilesystem(read(partition.start, Math.min(PROBE_BYTES, partition.size))),
  );
}

/** Attaches a loop device over one partition; detached when the stack unwinds (or by calling the result's `detach`). */
export async function attachLoop(
  stack: CleanupStack,
  image: string,
  partition: Partition,
  options: { readOnly?: boolean; log?: Log } = {},
): Promise<{ device: string; detach: () => Promise<void> }> {
  const args = [
    '--find',
    '--show',
    '--offset',
    String(partition.start),
    '--sizelimit',
    String(partition.size),
  ];
  if (options.readOnly) args.push('--read-only');
  const held = stack.hold({ kind: 'loop', file: realpathSync(image), offset: partition.start });
  let device: string;
  try {
    device = await run('losetup', [...args, image], { log: options.log });
  } catch (error) {
    held.release();
    throw error;
  }
  held.update({ device });
  const detach = stack.push(`detach ${device}`, async () => {
    await run('losetup', ['--detach', device], { log: options.log });
    held.release();
  });
  return { device, detach };
}

let mountDirs = 0;

/** A fresh mount point named before it is made, so the journal can record it first. */
async function makeMountDir(stack: CleanupStack): Promise<{ dir: string; held: Held }> {
  for (;;) {
    const dir = path.join(tmpdir(), `outpost-mnt-${process.pid}-${++mountDirs}`);
    const held = stack.hold({ kind: 'dir', path: dir });
    try {
      await mkdir(dir, { mode: 0o700 });
      return { dir, held };
    } catch (error) {
      held.release();
      // Left by an earlier process with this PID (before a reboot): take the next name.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** Read-only mounts must not replay a journal either: that would write to the image. */
const READ_ONLY_OPTIONS: Record<string, string> = { ext4: 'ro,noload', xfs: 'ro,norecovery,nouuid' };
/**
 * A copy of an image carries its filesystem's UUID, and xfs refuses to mount a second filesystem with a
 * mounted one's UUID: without `nouuid`, a base image could not be inspected while another build has its
 * copy mounted (or a dead build left it mounted).
 */
const READ_WRITE_OPTIONS: Record<string, string> = { xfs: 'rw,nouuid' };

export interface Mounted {
  device: string;
  dir: string;
  unmount: () => Promise<void>;
}

/** Mounts a loop device on a fresh temporary directory; unmounted (and the directory removed) on unwind. */
export async function mountDevice(
  stack: CleanupStack,
  device: string,
  options: { readOnly?: boolean; fstype: string; log?: Log },
): Promise<Mounted> {
  const { dir, held: heldDir } = await makeMountDir(stack);
  const removeDir = stack.push(`remove ${dir}`, async () => {
    await rmdir(dir);
    heldDir.release();
  });
  const opts = options.readOnly
    ? (READ_ONLY_OPTIONS[options.fstype] ?? 'ro')
    : (READ_WRITE_OPTIONS[options.fstype] ?? 'rw');
  const held = stack.hold({ kind: 'mount', dir });
  try {
    await run('mount', ['-t', options.fstype, '-o', opts, device, dir], { log: options.log });
  } catch (error) {
    held.release();
    throw error;
  }
  const unmount = stack.push(`unmount ${dir}`, async () => {
    await run('umount', [dir], { log: options.log });
    held.release();
  });
  return {
    device,
    dir,
    unmount: async () => {
      await unmount();
      await removeDir();
    },
  };
}
