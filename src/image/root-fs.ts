/**
 * Finding the image's root filesystem (the ext4/xfs/btrfs partition holding /etc/os-release) and opening
 * it for writing, including SL Micro's btrfs layout where the default subvolume is a read-only snapshot.
 */
import { existsSync, readFileSync } from 'node:fs';
import { InputError } from '../common/diagnostics.ts';
import type { CleanupStack } from './cleanup.ts';
import { attachLoop, type Mounted, mountDevice, probePartition, readImagePartitions } from './disk.ts';
import { type Log, run } from './exec.ts';
import { type FilesystemInfo, ROOT_FILESYSTEMS } from './filesystem-probe.ts';
import { type OsRelease, parseOsRelease } from './os-release.ts';
import type { Partition, PartitionTable } from './partition-table.ts';
import { resolveInRoot } from './root-path.ts';

export interface RootCandidate {
  partition: Partition;
  fs: FilesystemInfo;
}

export interface OpenRoot extends RootCandidate {
  /** The loop device under the mount (labels and online resizes address it). */
  device: string;
  mount: Mounted;
  osRelease?: OsRelease;
  detach: () => Promise<void>;
  /** Unmount, then detach. */
  close: () => Promise<void>;
}

/** Reads the table and probes every partition; MBR images with 4096-byte sectors are recognised by their contents. */
export function scanImage(image: string): {
  table: PartitionTable;
  filesystems: Map<number, FilesystemInfo>;
} {
  let table = readImagePartitions(image);
  let filesystems = probeAll(image, table);
  if (table.scheme === 'mbr' && filesystems.size === 0) {
    const wide = readImagePartitions(image, 4096);
    const wideFs = probeAll(image, wide);
    if (wideFs.size) [table, filesystems] = [wide, wideFs];
  }
  return { table, filesystems };
}

function probeAll(image: string, table: PartitionTable): Map<number, FilesystemInfo> {
  const out = new Map<number, FilesystemInfo>();
  for (const p of table.partitions) {
    const fs = probePartition(image, p);
    if (fs) out.set(p.number, fs);
  }
  return out;
}

export function rootCandidates(
  table: PartitionTable,
  filesystems: Map<number, FilesystemInfo>,
): RootCandidate[] {
  return table.partitions
    .filter((p) => ROOT_FILESYSTEMS.has(filesystems.get(p.number)?.type as never))
    .map((partition) => ({ partition, fs: filesystems.get(partition.number)! }))
    .sort((a, b) => b.partition.size - a.partition.size);
}

export function readOsRelease(root: string): OsRelease | undefined {
  for (const file of ['/etc/os-release', '/usr/lib/os-release']) {
    const host = resolveInRoot(root, file);
    if (existsSync(host)) return parseOsRelease(readFileSync(host, 'utf8'));
  }
  return undefined;
}

/** Mounts a candidate; the mount and loop device go away when the stack unwinds. */
export async function openCandidate(
  stack: CleanupStack,
  image: string,
  candidate: RootCandidate,
  options: { readOnly: boolean; log?: Log; beforeMount?: (device: string) => Promise<void> },
): Promise<OpenRoot> {
  const loop = await attachLoop(stack, image, candidate.partition, options);
  await options.beforeMount?.(loop.device);
  const mount = await mountDevice(stack, loop.device, { ...options, fstype: candidate.fs.type });
  return {
    ...candidate,
    device: loop.device,
    mount,
    detach: loop.detach,
    close: async () => {
      await mount.unmount();
      await loop.detach();
    },
    osRelease: readOsRelease(mount.dir),
  };
}

/** The candidate holding an os-release file; others are unmounted again. */
export async function openRootFilesystem(
  stack: CleanupStack,
  image: string,
  options: { readOnly: boolean; log?: Log },
): Promise<OpenRoot & { table: PartitionTable; filesystems: Map<number, FilesystemInfo> }> {
  const { table, filesystems } = scanImage(image);
  const candidates = rootCandidates(table, filesystems);
  for (const candidate of candidates) {
    const open = await openCandidate(stack, image, candidate, options);
    if (open.osRelease) return { ...open, table, filesystems };
    await open.close();
  }
  const seen = table.partitions
    .map((p) => `${p.number}:${filesystems.get(p.number)?.type ?? 'unknown'}`)
    .join(', ');
  const luks = [...filesystems.values()].some((f) => f.type === 'luks')
    ? '; encrypted (LUKS) root filesystems are not supported'
    : '';
  throw new InputError(
    `${image}: no root filesystem found (an ext4, xfs or btrfs partition with /etc/os-release); ` +
      `${table.scheme.toUpperCase()} partitions: ${seen || 'none'}${luks}`,
  );
}

/** btrfs: whether the mounted (default) subvolume carries the read-only property, as SL Micro's snapshot does. */
export async function btrfsReadOnly(dir: string, log?: Log): Promise<boolean> {
  const out = await run('btrfs', ['property', 'get', '-ts', dir, 'ro'], { log });
  return out.trim() === 'ro=true';
}

export async function setBtrfsReadOnly(dir: string, value: boolean, log?: Log): Promise<void> {
  await run('btrfs', ['property', 'set', '-ts', dir, 'ro', String(value)], { log });
}

/** Labels an unmounted root filesystem (combustion finds its bundle on a volume labelled INSTALL). */
export async function labelFilesystem(type: string, device: string, label: string, log?: Log): Promise<void> {
  if (type === 'btrfs') await run('btrfs', ['filesystem', 'label', device, label], { log });
  else if (type === 'ext4') await run('e2label', [device, label], { log });
  else if (type === 'xfs') await run('xfs_admin', ['-L', label, device], { log });
  else throw new InputError(`cannot label a ${type} filesystem`);
}
