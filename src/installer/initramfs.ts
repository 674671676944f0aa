import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { execa } from 'execa';
import { OperationError } from '../common/diagnostics.ts';
import { type CpioEntry, withParentDirs, writeCpio } from './cpio.ts';
import type { InstallerKernel } from './kernel.ts';
import { readModuleTree, resolveModules } from './kernel-modules.ts';

/** Drivers the installer loads: virtio, SATA/AHCI, NVMe, SCSI, USB storage, CD-ROM, and common NICs. */
export const INSTALLER_MODULES = [
  'virtio_pci',
  'virtio_blk',
  'virtio_scsi',
  'virtio_net',
  'ahci',
  'ata_piix',
  'nvme',
  'sd_mod',
  'sr_mod',
  'isofs',
  'usb_storage',
  'uas',
  'xhci_pci',
  'ehci_pci',
  'megaraid_sas',
  'mpt3sas',
  'hpsa',
  'smartpqi',
  'aacraid',
  'e1000',
  'e1000e',
  'igb',
  'ixgbe',
  'i40e',
  'ice',
  'tg3',
  'bnx2',
  'bnxt_en',
  'r8169',
  'be2net',
  'qede',
  'vmxnet3',
] as const;

/**
 * Dynamically linked tools copied with their libraries; busybox (static) provides the rest. curl, not
 * busybox wget: byte ranges (busybox refuses a 206 it did not ask for with -c), HTTPS, and bounded retries.
 * util-linux blkdiscard: `-z` zeroes a range with BLKZEROOUT (busybox's cannot).
 */
const HOST_TOOLS = ['/usr/sbin/sgdisk', '/usr/bin/curl', '/usr/sbin/blkdiscard'];
/** Trust store for HTTPS image URLs. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const BUSYBOX = '/bin/busybox';

const templatesDir = new URL('../../templates/installer/', import.meta.url);

export interface InitramfsResult {
  image: Buffer;
  modules: string[];
  missingModules: string[];
}

export async function buildInitramfs(kernel: InstallerKernel): Promise<InitramfsResult> {
  const entries: CpioEntry[] = [];
  const busybox = await readFile(BUSYBOX).catch(() => {
    throw new OperationError(`${BUSYBOX} not found: install Debian's busybox-static`);
  });
  entries.push({ path: 'bin/busybox', type: 'file', mode: 0o755, data: busybox });
  for (const applet of await busyboxApplets()) {
    if (applet !== 'busybox') entries.push({ path: `bin/${applet}`, type: 'symlink', target: 'busybox' });
  }
  entries.push({
    path: 'init',
    type: 'file',
    mode: 0o755,
    data: await readFile(new URL('init.sh', templatesDir)),
  });
  entries.push({
    path: 'bin/udhcpc-script',
    type: 'file',
    mode: 0o755,
    data: await readFile(new URL('udhcpc-script.sh', templatesDir)),
  });
  for (const dir of ['proc', 'sys', 'dev', 'tmp', 'run', 'etc', 'media/install']) {
    entries.push({ path: dir, type: 'dir', mode: 0o755 });
  }
  entries.push(...(await hostToolEntries(HOST_TOOLS)));
  const caBundle = await readFile(CA_BUNDLE).catch(() => undefined);
  if (caBundle) entries.push({ path: CA_BUNDLE.slice(1), type: 'file', mode: 0o644, data: caBundle });

  const tree = await readModuleTree(kernel.modulesDir);
  const { ordered, missing } = await resolveModules(tree, INSTALLER_MODULES);
  for (const rel of ordered) {
    entries.push({
      path: `lib/modules/${rel}`,
      type: 'file',
      mode: 0o644,
      data: await readFile(path.join(kernel.modulesDir, rel)),
    });
  }
  entries.push({
    path: 'lib/modules/load-order',
    type: 'file',
    mode: 0o644,
    data: Buffer.from(`${ordered.join('\n')}\n`),
  });

  const cpio = writeCpio(withParentDirs(dedupe(entries)));
  return { image: await promisify(gzip)(cpio, { level: 6 }), modules: ordered, missingModules: missing };
}

async function busyboxApplets(): Promise<string[]> {
  const { stdout } = await execa(BUSYBOX, ['--list']);
  return stdout.split('\n').filter((a) => /^[a-z0-9_.-]+$/.test(a));
}

/** The tool plus every shared library `ldd` names, at the same paths (the loader included). */
async function hostToolEntries(tools: readonly string[]): Promise<CpioEntry[]> {
  const entries: CpioEntry[] = [];
  const files = new Set<string>();
  for (const tool of tools) {
    files.add(tool);
    const { stdout } = await execa('ldd', [tool]).catch(() => {
      throw new OperationError(
        `${tool} not found or not a dynamic executable (install Debian's gdisk and curl)`,
      );
    });
    for (const m of stdout.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)) files.add(m[1]!);
  }
  for (const file of files) {
    entries.push({
      path: file.slice(1),
      type: 'file',
      mode: 0o755,
      data: await readFile(await realpath(file)),
    });
  }
  return entries;
}

function dedupe(entries: CpioEntry[]): CpioEntry[] {
  const seen = new Map<string, CpioEntry>();
  for (const e of entries) seen.set(e.path, e);
  return [...seen.values()];
}
