/**
 * GPT and MBR partition tables, parsed in user space: containers and CI machines often have no udev, so
 * `losetup -P` creates no partition nodes and the builder mounts partitions by byte offset instead.
 * Everything here is pure: bytes come from a `read(offset, length)` function.
 */
import { crc32 } from 'node:zlib';

export type ReadAt = (offset: number, length: number) => Buffer;

export interface Partition {
  /** 1-based, as the kernel and sgdisk number them (MBR logical partitions start at 5). */
  number: number;
  /** Byte offset from the start of the disk. */
  start: number;
  /** Size in bytes. */
  size: number;
  /** GPT: type GUID in upper case; MBR: type byte as `0x83`. */
  type: string;
  /** GPT only. */
  uuid?: string;
  /** GPT only (may be empty). */
  name?: string;
}

export interface PartitionTable {
  scheme: 'gpt' | 'mbr';
  sectorSize: number;
  partitions: Partition[];
  /** GPT only: the header's last usable LBA and where it expects the backup header. */
  gpt?: { diskGuid: string; lastUsableLba: bigint; backupLba: bigint };
}

export class PartitionTableError extends Error {
  override name = 'PartitionTableError';
}

export const GPT_TYPE = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  linuxData: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  linuxRootX86_64: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  linuxSwap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
} as const;

const MBR_EXTENDED = new Set([0x05, 0x0f, 0x85]);
const MBR_PROTECTIVE = 0xee;

/** Reads the table from a disk image; `sectorSize` only matters for MBR (GPT finds its own). */
export function readPartitionTable(read: ReadAt, options: { mbrSectorSize?: number } = {}): PartitionTable {
  for (const sectorSize of [512, 4096]) {
    if (read(sectorSize, 8).toString('latin1') === 'EFI PART') return readGpt(read, sectorSize);
  }
  const mbr = read(0, 512);
  if (mbr.readUInt16LE(510) !== 0xaa55) {
    throw new PartitionTableError('no partition table: neither a GPT header nor an MBR boot signature');
  }
  if (mbrEntries(mbr).some((e) => e.type === MBR_PROTECTIVE)) {
    throw new PartitionTableError('protective MBR found but the GPT header is missing or damaged');
  }
  return readMbr(read, options.mbrSectorSize ?? 512);
}

/** Convenience for tests and small images: parse from the first bytes of a disk held in memory. */
export function parsePartitionTable(disk: Buffer, options: { mbrSectorSize?: number } = {}): PartitionTable {
  return readPartitionTable((offset, length) => {
    if (offset + length > disk.length) {
      throw new PartitionTableError(`partition table points past the data read (${offset + length} bytes)`);
    }
    return disk.subarray(offset, offset + length);
  }, options);
}

function readGpt(read: ReadAt, sectorSize: number): PartitionTable {
  const header = read(sectorSize, sectorSize);
  const headerSize = header.readUInt32LE(12);
  if (headerSize < 92 || headerSize > sectorSize) throw new PartitionTableError('GPT header size is invalid');
  const forCrc = Buffer.from(header.subarray(0, headerSize));
  forCrc.writeUInt32LE(0, 16);
  if (crc32(forCrc) !== header.readUInt32LE(16))
    throw new PartitionTableError('GPT header checksum mismatch');

  const entriesLba = header.readBigUInt64LE(72);
  const count = header.readUInt32LE(80);
  const entrySize = header.readUInt32LE(84);
  if (entrySize < 128 || count > 1024) throw new PartitionTableError('GPT partition entry array is invalid');
  const entries = read(Number(entriesLba) * sectorSize, count * entrySize);
  if (crc32(entries) !== header.readUInt32LE(88)) {
    throw new PartitionTableError('GPT partition entry array checksum mismatch');
  }

  const partitions: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const e = entries.subarray(i * entrySize, (i + 1) * entrySize);
    const type = formatGuid(e.subarray(0, 16));
    if (type === '00000000-0000-0000-0000-000000000000') continue;
    const first = e.readBigUInt64LE(32);
    const last = e.readBigUInt64LE(40);
    partitions.push({
      number: i + 1,
      start: Number(first) * sectorSize,
      size: Number(last - first + 1n) * sectorSize,
      type,
      uuid: formatGuid(e.subarray(16, 32)),
      name: e.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, ''),
    });
  }
  return {
    scheme: 'gpt',
    sectorSize,
    partitions,
    gpt: {
      diskGuid: formatGuid(header.subarray(56, 72)),
      lastUsableLba: header.readBigUInt64LE(48),
      backupLba: header.readBigUInt64LE(32),
    },
  };
}

/** GUIDs store their first three fields little-endian. */
export function formatGuid(b: Buffer): string {
  const hex = (buf: Buffer) => buf.toString('hex');
  const le = (start: number, end: number) => hex(Buffer.from(b.subarray(start, end)).reverse());
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`.toUpperCase();
}

interface MbrEntry {
  type: number;
  firstLba: number;
  sectors: number;
}

function mbrEntries(sector: Buffer): MbrEntry[] {
  const entries: MbrEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const e = sector.subarray(446 + i * 16, 462 + i * 16);
    entries.push({ type: e[4]!, firstLba: e.readUInt32LE(8), sectors: e.readUInt32LE(12) });
  }
  return entries;
}

function readMbr(read: ReadAt, sectorSize: number): PartitionTable {
  const partitions: Partition[] = [];
  const primaries = mbrEntries(read(0, 512));
  primaries.forEach((e, i) => {
    if (e.type === 0 || e.sectors === 0) return;
    if (MBR_EXTENDED.has(e.type)) {
      partitions.push(...readLogical(read, sectorSize, e.firstLba));
      return;
    }
    partitions.push(mbrPartition(i + 1, e, 0, sectorSize));
  });
  partitions.sort((a, b) => a.number - b.number);
  return { scheme: 'mbr', sectorSize, partitions };
}

/** Logical partitions: a chain of EBRs, each relative to the extended partition's start. */
function readLogical(read: ReadAt, sectorSize: number, extendedLba: number): Partition[] {
  const out: Partition[] = [];
  let ebrLba = extendedLba;
  for (let number = 5; number < 5 + 128; number++) {
    const ebr = read(ebrLba * sectorSize, 512);
    if (ebr.readUInt16LE(510) !== 0xaa55) throw new PartitionTableError(`EBR at sector ${ebrLba} is invalid`);
    const [data, next] = mbrEntries(ebr);
    if (data && data.type !== 0 && data.sectors !== 0)
      out.push(mbrPartition(number, data, ebrLba, sectorSize));
    if (!next || next.type === 0 || next.firstLba === 0) return out;
    ebrLba = extendedLba + next.firstLba;
  }
  throw new PartitionTableError('too many logical partitions (EBR chain loops?)');
}

function mbrPartition(number: number, e: MbrEntry, baseLba: number, sectorSize: number): Partition {
  return {
    number,
    start: (baseLba + e.firstLba) * sectorSize,
    size: e.sectors * sectorSize,
    type: `0x${e.type.toString(16).padStart(2, '0')}`,
  };
}

/** The partition that ends last on the disk: the only one that can grow into appended space. */
export function lastPartition(table: PartitionTable): Partition | undefined {
  return table.partitions.reduce<Partition | undefined>(
    (best, p) => (!best || p.start + p.size > best.start + best.size ? p : best),
    undefined,
  );
}

export function isEsp(p: Partition): boolean {
  return p.type === GPT_TYPE.esp || p.type === '0xef';
}
