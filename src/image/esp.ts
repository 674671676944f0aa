/**
 * The EFI system partition is FAT, which this kernel (and many container hosts) cannot mount: read and
 * write its files in user space with mtools, addressing the partition inside the image by byte offset.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Log, run } from './exec.ts';
import type { Partition } from './partition-table.ts';

const env = { MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '0' };

function drive(image: string, partition: Partition): string {
  return `${image}@@${partition.start}`;
}

/** Names of the files in an ESP directory (empty when the directory does not exist). */
export async function listEspDir(
  image: string,
  partition: Partition,
  dir: string,
  log?: Log,
): Promise<string[]> {
  try {
    const out = await run('mdir', ['-i', drive(image, partition), '-b', `::${dir}`], { log, env });
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^::/, '').split('/').at(-1)!)
      .filter(Boolean);
  } catch {
    return [];
  }
}

export function readEspFile(image: string, partition: Partition, file: string, log?: Log): Promise<string> {
  return run('mtype', ['-i', drive(image, partition), `::${file}`], { log, env, keepFinalNewline: true });
}

export async function writeEspFile(
  image: string,
  partition: Partition,
  file: string,
  content: string,
  log?: Log,
): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outpost-esp-'));
  try {
    const local = path.join(dir, path.basename(file));
    await writeFile(local, content);
    await run('mcopy', ['-o', '-i', drive(image, partition), local, `::${file}`], { log, env });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
