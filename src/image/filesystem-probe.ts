/**
 * Identifies a filesystem from the first bytes of a partition (its superblock), without mounting it or
 * calling blkid: the builder must work in containers without udev and on images it has not copied yet.
 */
export type FilesystemType = 'ext4' | 'xfs' | 'btrfs' | 'vfat' | 'luks' | 'swap';

export interface FilesystemInfo {
  type: FilesystemType;
  label: string;
  uuid: string;
  /** Filesystem size and free space in bytes, from the superblock (0 when the format does not say). */
  sizeBytes: number;
  freeBytes: number;
}

/** How many bytes from the start of a partition `probeFilesystem` needs (btrfs's superblock sits at 64 KiB). */
export const PROBE_BYTES = 0x10000 + 0x1000;

/** Root filesystems the builder can write into and grow. */
export const ROOT_FILESYSTEMS: ReadonlySet<FilesystemType> = new Set(['ext4', 'xfs', 'btrfs']);

export function probeFilesystem(head: Buffer): FilesystemInfo | undefined {
  return (
    probeExt(head) ??
    probeXfs(head) ??
    probeBtrfs(head) ??
    probeLuks(head) ??
    probeSwap(head) ??
    probeFat(head)
  );
}

function cString(b: Buffer): string {
  return b.toString('utf8').replace(/\0.*$/s, '').trim();
}

function uuidOf(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function probeExt(head: Buffer): FilesystemInfo | undefined {
  if (head.length < 2048) return undefined;
  const sb = head.subarray(1024, 2048);
  if (sb.readUInt16LE(0x38) !== 0xef53) return undefined;
  const blockSize = 1024 << sb.readUInt32LE(0x18);
  const is64bit = (sb.readUInt32LE(0x60) & 0x80) !== 0;
  const blocks = sb.readUInt32LE(0x04) + (is64bit ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
  const free = sb.readUInt32LE(0x0c) + (is64bit ? sb.readUInt32LE(0x158) * 2 ** 32 : 0);
  // ext2/ext3 mount as ext4 and the same tools (e2label, resize2fs) handle them.
  return {
    type: 'ext4',
    label: cString(sb.subarray(0x78, 0x88)),
    uuid: uuidOf(sb.subarray(0x68, 0x78)),
    sizeBytes: blocks * blockSize,
    freeBytes: free * blockSize,
  };
}

function probeXfs(head: Buffer): FilesystemInfo | undefined {
  if (head.length < 512 || head.toString('latin1', 0, 4) !== 'XFSB') return undefined;
  const blockSize = head.readUInt32BE(4);
  return {
    type: 'xfs',
    label: cString(head.subarray(108, 120)),
    uuid: uuidOf(head.subarray(32, 48)),
    sizeBytes: Number(head.readBigUInt64BE(8)) * blockSize,
    freeBytes: Number(head.readBigUInt64BE(144)) * blockSize,
  };
}

function probeBtrfs(head: Buffer): FilesystemInfo | undefined {
  if (head.length < PROBE_BYTES) return undefined;
  const sb = head.subarray(0x10000, 0x11000);
  if (sb.toString('latin1', 0x40, 0x48) !== '_BHRfS_M') return undefined;
  const total = Number(sb.readBigUInt64LE(0x70));
  const used = Number(sb.readBigUInt64LE(0x78));
  return {
    type: 'btrfs',
    label: cString(sb.subarray(0x12b, 0x12b + 256)),
    uuid: uuidOf(sb.subarray(0x20, 0x30)),
    sizeBytes: total,
    freeBytes: Math.max(0, total - used),
  };
}

function probeLuks(head: Buffer): FilesystemInfo | undefined {
  if (head.length < 6 || !head.subarray(0, 6).equals(Buffer.from('LUKS\xba\xbe', 'latin1'))) return undefined;
  return { type: 'luks', label: '', uuid: cString(head.subarray(168, 208)), sizeBytes: 0, freeBytes: 0 };
}

function probeSwap(head: Buffer): FilesystemInfo | undefined {
  if (head.length < 4096 || head.toString('latin1', 4086, 4096) !== 'SWAPSPACE2') return undefined;
  return {
    type: 'swap',
    label: cString(head.subarray(1024 + 28, 1024 + 44)),
    uuid: '',
    sizeBytes: 0,
    freeBytes: 0,
  };
}

function probeFat(head: Buffer): FilesystemInfo | undefined {
  if (head.length < 512 || head.readUInt16LE(510) !== 0xaa55) return undefined;
  const fat32 = head.toString('latin1', 82, 87) === 'FAT32';
  if (!fat32 && !head.toString('latin1', 54, 57).startsWith('FAT')) return undefined;
  const labelAt = fat32 ? 71 : 43;
  const serial = head
    .readUInt32LE(labelAt - 4)
    .toString(16)
    .toUpperCase()
    .padStart(8, '0');
  const sectors = head.readUInt16LE(19) || head.readUInt32LE(32);
  return {
    type: 'vfat',
    label: cString(head.subarray(labelAt, labelAt + 11)),
    uuid: `${serial.slice(0, 4)}-${serial.slice(4)}`,
    sizeBytes: sectors * head.readUInt16LE(11),
    freeBytes: 0,
  };
}
