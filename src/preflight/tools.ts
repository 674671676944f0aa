/**
 * Every external program outpost runs, by the part that runs it: the one list preflight checks
 * (test/preflight/tools.test.ts fails when the code calls a program missing from it).
 *
 * - `service`: `outpost serve` builds each host's installer ISO and config drive (src/installer), so these
 *   must be on the management node;
 * - `build`: disk surgery for `outpost build` (src/image, src/build); builds may run in the container;
 * - `kit`: `outpost kit create --format zip` (src/kit), on the connected machine;
 * - `lab`: the lab's QEMU machines and TLS certificates (src/lab), for trials only.
 */
export type ToolUse = 'service' | 'build' | 'kit' | 'lab';

export interface Tool {
  /** Program name as the code calls it, or an absolute path when the code reads the file itself. */
  name: string;
  usedBy: ToolUse;
  /** Debian package (scripts/install-deps.sh installs them). */
  package: string;
  /** Arguments that make it print its version (the first line with a version number is kept); none: presence only. */
  versionArgs?: string[];
}

export const TOOLS: readonly Tool[] = [
  { name: 'xorriso', usedBy: 'service', package: 'xorriso', versionArgs: ['-version'] },
  { name: 'mkfs.vfat', usedBy: 'service', package: 'dosfstools', versionArgs: ['--help'] },
  { name: 'mmd', usedBy: 'service', package: 'mtools', versionArgs: ['--version'] },
  { name: 'mcopy', usedBy: 'service', package: 'mtools', versionArgs: ['--version'] },
  { name: 'ldd', usedBy: 'service', package: 'libc-bin', versionArgs: ['--version'] },
  // Copied into the installer's initramfs from these paths (src/installer/initramfs.ts).
  { name: '/bin/busybox', usedBy: 'service', package: 'busybox-static', versionArgs: [] },
  { name: '/usr/sbin/sgdisk', usedBy: 'service', package: 'gdisk', versionArgs: ['--version'] },
  { name: '/usr/bin/curl', usedBy: 'service', package: 'curl', versionArgs: ['--version'] },
  { name: '/usr/sbin/blkdiscard', usedBy: 'service', package: 'util-linux', versionArgs: ['--version'] },
  { name: 'losetup', usedBy: 'build', package: 'mount', versionArgs: ['--version'] },
  { name: 'mount', usedBy: 'build', package: 'mount', versionArgs: ['--version'] },
  { name: 'umount', usedBy: 'build', package: 'mount', versionArgs: ['--version'] },
  { name: 'sync', usedBy: 'build', package: 'coreutils', versionArgs: ['--version'] },
  { name: 'cp', usedBy: 'build', package: 'coreutils', versionArgs: ['--version'] },
  { name: 'sgdisk', usedBy: 'build', package: 'gdisk', versionArgs: ['--version'] },
  { name: 'growpart', usedBy: 'build', package: 'cloud-guest-utils' },
  { name: 'e2fsck', usedBy: 'build', package: 'e2fsprogs', versionArgs: ['-V'] },
  { name: 'resize2fs', usedBy: 'build', package: 'e2fsprogs', versionArgs: [] },
  { name: 'e2label', usedBy: 'build', package: 'e2fsprogs' },
  { name: 'btrfs', usedBy: 'build', package: 'btrfs-progs', versionArgs: ['--version'] },
  { name: 'xfs_growfs', usedBy: 'build', package: 'xfsprogs', versionArgs: ['-V'] },
  { name: 'xfs_admin', usedBy: 'build', package: 'xfsprogs', versionArgs: ['-V'] },
  { name: 'mdir', usedBy: 'build', package: 'mtools', versionArgs: ['--version'] },
  { name: 'mtype', usedBy: 'build', package: 'mtools', versionArgs: ['--version'] },
  { name: 'zip', usedBy: 'kit', package: 'zip', versionArgs: ['-v'] },
  { name: 'qemu-img', usedBy: 'lab', package: 'qemu-utils', versionArgs: ['--version'] },
  { name: 'qemu-system-x86_64', usedBy: 'lab', package: 'qemu-system-x86', versionArgs: ['--version'] },
  { name: 'ip', usedBy: 'lab', package: 'iproute2', versionArgs: ['-V'] },
  { name: 'openssl', usedBy: 'lab', package: 'openssl', versionArgs: ['version'] },
];
