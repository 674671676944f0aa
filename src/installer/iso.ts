import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { OperationError } from '../common/diagnostics.ts';
import { renderTemplate } from '../common/templates.ts';
import { type ImageMap, MAX_RANGE, serializeImageMap } from './image-map.ts';
import { buildInitramfs } from './initramfs.ts';
import type { InstallerKernel } from './kernel.ts';

/** What is the same for every host: kernel, initramfs and the UEFI boot image. Built once, then cached. */
export interface InstallerBase {
  dir: string;
  vmlinuz: string;
  initrd: string;
  efiImage: string;
  isolinuxCfg: string;
  kernelVersion: string;
}

const ISOLINUX_BIN = '/usr/lib/ISOLINUX/isolinux.bin';
const ISOLINUX_MBR = '/usr/lib/ISOLINUX/isohdpfx.bin';
const LDLINUX = '/usr/lib/syslinux/modules/bios/ldlinux.c32';
const SYSTEMD_BOOT = '/usr/lib/systemd/boot/efi/systemd-bootx64.efi';
export const INSTALLER_VOLUME_LABEL = 'OUTPOST_INSTALL';
const KERNEL_CMDLINE = 'console=tty0 console=ttyS0,115200 panic=30 quiet';

const templatesDir = new URL('../../templates/installer/', import.meta.url);

/** Key of the cached base: changes when the kernel or any installer template changes. */
async function baseKey(kernel: InstallerKernel): Promise<string> {
  const hash = createHash('sha256').update(kernel.version).update(KERNEL_CMDLINE);
  for (const name of ['init.sh', 'udhcpc-script.sh'])
    hash.update(await readFile(new URL(name, templatesDir)));
  return hash.digest('hex').slice(0, 16);
}

export async function prepareInstallerBase(
  kernel: InstallerKernel,
  cacheDir: string,
): Promise<InstallerBase> {
  for (const tool of [ISOLINUX_BIN, LDLINUX, SYSTEMD_BOOT]) {
    if (!existsSync(tool))
      throw new OperationError(
        `${tool} not found: install Debian's isolinux, syslinux-common and systemd-boot-efi`,
      );
  }
  const dir = path.join(cacheDir, `installer-${kernel.version}-${await baseKey(kernel)}`);
  const base: InstallerBase = {
    dir,
    vmlinuz: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    efiImage: path.join(dir, 'efiboot.img'),
    isolinuxCfg: path.join(dir, 'isolinux.cfg'),
    kernelVersion: kernel.version,
  };
  if (existsSync(path.join(dir, 'complete'))) return base;

  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const initramfs = await buildInitramfs(kernel);
    await writeFile(path.join(tmp, 'initrd.img'), initramfs.image);
    await writeFile(path.join(tmp, 'vmlinuz'), await readFile(kernel.vmlinuz));
    await writeFile(
      path.join(tmp, 'isolinux.cfg'),
      `DEFAULT outpost\nPROMPT 0\nTIMEOUT 1\nLABEL outpost\n  KERNEL /boot/vmlinuz\n  APPEND initrd=/boot/initrd.img ${KERNEL_CMDLINE}\n`,
    );
    await buildEfiImage(tmp, path.join(tmp, 'efiboot.img'));
    await writeFile(path.join(tmp, 'modules.txt'), `${initramfs.modules.join('\n')}\n`);
    await writeFile(path.join(tmp, 'complete'), `${new Date().toISOString()}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return base;
}

/** A FAT image used as the El Torito UEFI boot image: systemd-boot with one entry, kernel and initrd. */
async function buildEfiImage(workDir: string, output: string): Promise<void> {
  const kernelBytes = (await stat(path.join(workDir, 'vmlinuz'))).size;
  const initrdBytes = (await stat(path.join(workDir, 'initrd.img'))).size;
  const sizeKiB = Math.ceil((kernelBytes + initrdBytes) / 1024 / 1024 + 4) * 1024;
  await writeFile(path.join(workDir, 'loader.conf'), 'timeout 0\ndefault outpost.conf\n');
  await writeFile(
    path.join(workDir, 'outpost.conf'),
    `title outpost installer\nlinux /vmlinuz\ninitrd /initrd.img\noptions ${KERNEL_CMDLINE}\n`,
  );
  await execa('mkfs.vfat', ['-n', 'OUTPOST_EFI', '-C', output, String(sizeKiB)]);
  const env = { MTOOLS_SKIP_CHECK: '1' };
  const img = ['-i', output];
  await execa('mmd', [...img, '::/EFI', '::/EFI/BOOT', '::/loader', '::/loader/entries'], { env });
  const copies: [string, string][] = [
    [SYSTEMD_BOOT, '::/EFI/BOOT/BOOTX64.EFI'],
    [path.join(workDir, 'vmlinuz'), '::/vmlinuz'],
    [path.join(workDir, 'initrd.img'), '::/initrd.img'],
    [path.join(workDir, 'loader.conf'), '::/loader/loader.conf'],
    [path.join(workDir, 'outpost.conf'), '::/loader/entries/outpost.conf'],
  ];
  for (const [from, to] of copies) await execa('mcopy', [...img, from, to], { env });
}

export interface InstallerSettings {
  host: string;
  /**
   * `install` (default) writes the image; `wipe` writes nothing of it: it clears every disk's partition
   * tables and filesystem signatures (cleaning before a host is reused, like Metal3's metadata cleaning),
   * reports, and powers off. A wipe ISO carries no image (`image` is ignored).
   */
  mode?: 'install' | 'wipe';
  image: { url?: string; file?: string; size: number; sha256: string };
  disk: {
    installDevice?: string;
    /** Refuse to choose between several matching disks (a standalone ISO has nobody to ask). */
    requireUnique?: boolean;
    hints?: {
      deviceName?: string;
      minSizeBytes?: number;
      maxSizeBytes?: number;
      serialNumber?: string;
      wwn?: string;
      rotational?: boolean;
    };
  };
  callback?: { url: string; token: string };
  network?: { mode: 'dhcp' | 'static'; mac?: string; address?: string; gateway?: string; dns?: string[] };
  /** Power off instead of rebooting when done (tests). */
  reboot?: boolean;
}

/** The shell-quoted settings file the installer sources. */
export function renderInstallConf(settings: InstallerSettings, configDrive: boolean): string {
  return renderTemplate('installer/install.conf.hbs', {
    host: settings.host,
    mode: settings.mode ?? 'install',
    image: {
      url: settings.image.url ?? '',
      file: settings.image.file ?? '',
      size: settings.image.size,
      sha256: settings.image.sha256,
    },
    disk: {
      installDevice: settings.disk.installDevice ?? '',
      hints: settings.disk.hints ?? {},
      policy: settings.disk.requireUnique ? 'unique' : 'smallest',
    },
    callback: settings.callback ?? { url: '', token: '' },
    network: {
      mode: settings.network?.mode ?? 'dhcp',
      mac: settings.network?.mac ?? '',
      address: settings.network?.address ?? '',
      gateway: settings.network?.gateway ?? '',
      dns: (settings.network?.dns ?? []).join(' '),
    },
    configDrive: configDrive ? 'outpost/config-drive.img' : '',
    reboot: settings.reboot === false ? 'false' : 'true',
  });
}

export interface InstallerIsoRequest {
  base: InstallerBase;
  output: string;
  settings: InstallerSettings;
  /** The image's block map: the installer writes its data ranges and zeroes the rest (not in wipe mode). */
  imageMap?: ImageMap;
  /** Raw image whose data ranges the ISO carries (packed), instead of downloading them from settings.image.url. */
  imagePath?: string;
  /** An ISO 9660 `config-2` image the installer writes to a partition at the end of the disk. */
  configDriveImage?: string;
}

/** Writes a UEFI+BIOS bootable installer ISO for one host; appears atomically at `output`. */
export async function buildInstallerIso(request: InstallerIsoRequest): Promise<void> {
  const { base, output } = request;
  const { imageMap } = request;
  const wipe = request.settings.mode === 'wipe';
  if (wipe && (imageMap || request.imagePath || request.configDriveImage)) {
    throw new OperationError('internal: a wipe ISO carries no image and no config drive');
  }
  if (
    !wipe &&
    (!imageMap ||
      imageMap.sha256 !== request.settings.image.sha256 ||
      imageMap.size !== request.settings.image.size)
  ) {
    throw new OperationError('internal: the image map does not describe the image being installed');
  }
  const settings: InstallerSettings = request.imagePath
    ? {
        ...request.settings,
        image: { ...request.settings.image, file: 'outpost/image.data', url: undefined },
      }
    : request.settings;
  const tmp = `${output}.tmp-${process.pid}`;
  const conf = `${tmp}.conf`;
  const mapFile = `${tmp}.map`;
  const dataFile = `${tmp}.data`;
  await writeFile(conf, renderInstallConf(settings, Boolean(request.configDriveImage)), { mode: 0o600 });
  if (imageMap) await writeFile(mapFile, serializeImageMap(imageMap));
  if (imageMap && request.imagePath) await packImageData(request.imagePath, imageMap, dataFile);
  const grafts = [
    `isolinux/isolinux.bin=${ISOLINUX_BIN}`,
    `isolinux/ldlinux.c32=${LDLINUX}`,
    `isolinux/isolinux.cfg=${base.isolinuxCfg}`,
    `boot/vmlinuz=${base.vmlinuz}`,
    `boot/initrd.img=${base.initrd}`,
    `efiboot.img=${base.efiImage}`,
    `outpost/install.conf=${conf}`,
  ];
  if (imageMap) grafts.push(`outpost/image.map=${mapFile}`);
  if (request.imagePath) grafts.push(`outpost/image.data=${dataFile}`);
  if (request.configDriveImage) grafts.push(`outpost/config-drive.img=${request.configDriveImage}`);
  try {
    await execa('xorriso', [
      '-as',
      'mkisofs',
      '-quiet',
      '-o',
      tmp,
      '-V',
      INSTALLER_VOLUME_LABEL,
      '-r',
      '-J',
      '-joliet-long',
      '-isohybrid-mbr',
      ISOLINUX_MBR,
      '-b',
      'isolinux/isolinux.bin',
      '-c',
      'isolinux/boot.cat',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      '-eltorito-alt-boot',
      '-e',
      'efiboot.img',
      '-no-emul-boot',
      '-isohybrid-gpt-basdat',
      '-graft-points',
      ...grafts,
    ]);
    await rename(tmp, output);
  } finally {
    await Promise.all([tmp, conf, mapFile, dataFile].map((f) => rm(f, { force: true })));
  }
}

/** The image's data ranges, back to back, in map order: what an ISO carries instead of the zeros. */
async function packImageData(imagePath: string, map: ImageMap, output: string): Promise<void> {
  const source = await open(imagePath, 'r');
  const target = await open(output, 'w', 0o600);
  try {
    const buffer = Buffer.allocUnsafe(MAX_RANGE);
    for (const range of map.ranges) {
      const { bytesRead } = await source.read(buffer, 0, range.length, range.offset);
      if (bytesRead !== range.length)
        throw new OperationError(`${imagePath} changed while it was being packed`);
      await target.write(buffer, 0, bytesRead, range.dataOffset);
    }
  } finally {
    await source.close();
    await target.close();
  }
}
