/** Growing a copied image: the file, the GPT backup header, the last partition and the filesystem inside it. */
import { truncate } from 'node:fs/promises';
import { execa } from 'execa';
import { OperationError } from '../common/diagnostics.ts';
import { type Log, run } from './exec.ts';
import type { FilesystemType } from './filesystem-probe.ts';
import type { PartitionTable } from './partition-table.ts';

/** Extends the file and, for GPT, moves the backup header to the new end (the primary then describes the space). */
export async function growImageFile(image: string, table: PartitionTable, newSize: number, log?: Log) {
  await truncate(image, newSize);
  if (table.scheme === 'gpt') await run('sgdisk', ['--move-second-header', image], { log });
}

/** Extends a partition to the end of the disk with growpart (keeps its type, GUID, name and attributes). */
export async function growPartitionToEnd(
  image: string,
  partitionNumber: number,
  log?: Log,
): Promise<boolean> {
  log?.(`$ growpart ${image} ${partitionNumber}`);
  const r = await execa('growpart', [image, String(partitionNumber)], { reject: false, detached: true });
  log?.(`${r.stdout}${r.stderr ? `\n${r.stderr}` : ''}`);
  if (r.exitCode === 0) return true;
  if (r.exitCode === 1 && r.stdout.startsWith('NOCHANGE')) return false;
  throw new OperationError(`growpart ${image} ${partitionNumber} failed: ${r.stderr || r.stdout}`);
}

/**
 * ext4 grows offline, before mounting: online growth needs CAP_SYS_RESOURCE, which containers often lack.
 * resize2fs insists on a freshly checked filesystem; -p repairs only what is safe without asking.
 */
export async function growExt4Offline(device: string, log?: Log) {
  log?.(`$ e2fsck -f -p ${device}`);
  const check = await execa('e2fsck', ['-f', '-p', device], { reject: false, detached: true });
  log?.(check.all ?? `${check.stdout}\n${check.stderr}`);
  // 0: clean, 1: errors corrected; anything else needs a human.
  if (check.exitCode !== 0 && check.exitCode !== 1) {
    throw new OperationError(
      `e2fsck found problems it cannot fix safely in the root filesystem: ${check.stdout}`,
    );
  }
  await run('resize2fs', [device], { log });
}

/** Grows a mounted xfs or btrfs filesystem online to the size of its (loop) device. */
export async function growFilesystemOnline(type: FilesystemType, mountDir: string, log?: Log) {
  switch (type) {
    case 'xfs':
      await run('xfs_growfs', [mountDir], { log });
      return;
    case 'btrfs':
      await run('btrfs', ['filesystem', 'resize', 'max', mountDir], { log });
      return;
    default:
      throw new OperationError(`cannot grow a ${type} filesystem`);
  }
}
