import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/**
 * A block map of a raw image (the idea of bmaptool): which ranges hold data, each with its own SHA-256.
 * Everything else is zeros. The installer downloads and verifies only the data ranges and zero-fills the
 * rest on the disk, so a 3 GiB image with 600 MiB of data moves 600 MiB — and a corrupted range is
 * refetched on its own instead of failing the whole image at the end.
 */
export interface ImageRange {
  offset: number;
  length: number;
  sha256: string;
  /** Where the range starts in the packed data file (data ranges concatenated), for images carried on the ISO. */
  dataOffset: number;
}

export interface ImageMap {
  size: number;
  /** SHA-256 of the whole image, computed in the same pass. */
  sha256: string;
  blockSize: number;
  ranges: ImageRange[];
  dataBytes: number;
}

export const MAP_BLOCK = 1 << 20;
/** Ranges are cut at this size: the installer holds one range in RAM while it verifies it. */
export const MAX_RANGE = 32 << 20;

/** Reads the image once: whole-image hash, zero detection per 1 MiB block, a hash per data range. */
export async function computeImageMap(file: string): Promise<ImageMap> {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const whole = createHash('sha256');
    const ranges: ImageRange[] = [];
    let current: { offset: number; length: number; hash: ReturnType<typeof createHash> } | undefined;
    let dataOffset = 0;
    const close = () => {
      if (!current) return;
      ranges.push({
        offset: current.offset,
        length: current.length,
        sha256: current.hash.digest('hex'),
        dataOffset,
      });
      dataOffset += current.length;
      current = undefined;
    };
    const buffer = Buffer.allocUnsafe(MAP_BLOCK);
    for (let offset = 0; offset < size; offset += MAP_BLOCK) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(MAP_BLOCK, size - offset), offset);
      if (bytesRead === 0) throw new Error(`${file}: unexpected end at byte ${offset} of ${size}`);
      const block = buffer.subarray(0, bytesRead);
      whole.update(block);
      if (isZero(block)) {
        close();
        continue;
      }
      if (current && current.length + bytesRead > MAX_RANGE) close();
      current ??= { offset, length: 0, hash: createHash('sha256') };
      current.hash.update(block);
      current.length += bytesRead;
    }
    close();
    return { size, sha256: whole.digest('hex'), blockSize: MAP_BLOCK, ranges, dataBytes: dataOffset };
  } finally {
    await handle.close();
  }
}

const ZEROS = Buffer.alloc(MAP_BLOCK);

function isZero(block: Buffer): boolean {
  return ZEROS.subarray(0, block.length).equals(block);
}

/** The map as the installer reads it: a header line, then `offset length sha256 dataOffset` per data range. */
export function serializeImageMap(map: ImageMap): string {
  const lines = [`# outpost image map: size ${map.size} sha256 ${map.sha256} data ${map.dataBytes}`];
  for (const r of map.ranges) lines.push(`${r.offset} ${r.length} ${r.sha256} ${r.dataOffset}`);
  return `${lines.join('\n')}\n`;
}
