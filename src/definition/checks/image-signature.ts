import { open } from 'node:fs/promises';

/** Enough of the start of an image to see an MBR, a GPT header at LBA 1 (512- or 4096-byte sectors) and an ISO 9660 volume descriptor. */
const HEAD_BYTES = 32 * 1024 + 2048;
const ISO_MAGIC_OFFSET = 32769; // "CD001" in the first volume descriptor, at sector 16 of 2048 bytes
const GPT_SIGNATURE = 'EFI PART';

export interface ImageSignature {
  /** Bytes 510-511 are 0x55 0xAA. */
  mbrSignature: boolean;
  /** A GPT header at LBA 1, with the sector size it was found at. */
  gptSectorSize?: 512 | 4096;
  /** At least one MBR partition entry that could describe a partition. */
  mbrPartition: boolean;
  iso9660: boolean;
}

export async function readImageSignature(file: string): Promise<ImageSignature> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    return signatureOf(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

export function signatureOf(head: Buffer): ImageSignature {
  const mbrSignature = head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa;
  const gptAt = (offset: number) => head.toString('latin1', offset, offset + 8) === GPT_SIGNATURE;
  const gptSectorSize = mbrSignature ? (gptAt(512) ? 512 : gptAt(4096) ? 4096 : undefined) : undefined;
  return {
    mbrSignature,
    gptSectorSize,
    mbrPartition: mbrSignature && [0, 1, 2, 3].some((i) => isPartitionEntry(head, 446 + 16 * i)),
    iso9660: head.toString('latin1', ISO_MAGIC_OFFSET, ISO_MAGIC_OFFSET + 5) === 'CD001',
  };
}

/** Status 0x00 or 0x80, a non-zero type and a non-zero length: what a partitioning tool writes. */
function isPartitionEntry(head: Buffer, offset: number): boolean {
  const status = head[offset];
  const type = head[offset + 4];
  const sectors = head.readUInt32LE(offset + 12);
  return (status === 0x00 || status === 0x80) && type !== 0 && sectors > 0;
}

/** A raw disk image the builder can read: a GPT, or an MBR with a partition in it. */
export function looksLikeRawDisk(sig: ImageSignature): boolean {
  return sig.mbrSignature && (sig.gptSectorSize !== undefined || sig.mbrPartition);
}

/** Why a file is not a raw disk image, in words a user can check with `sgdisk -p` or `fdisk -l`. */
export function rawDiskProblem(sig: ImageSignature): string {
  if (!sig.mbrSignature) return 'no partition table (no MBR signature 0x55AA at byte 510)';
  return 'an MBR signature but neither a GPT header nor an MBR partition entry';
}
