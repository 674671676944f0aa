/**
 * A deterministic ustar writer for archives built from memory (the release tarball, docker-save image
 * archives): every entry is owned by 0:0 (root:root) with a fixed mtime, so the same version writes the
 * same bytes and the checksum file is reproducible. node-tar packs from the filesystem and takes owners
 * and times from it, which is what this avoids.
 */

export interface TarEntry {
  /** Relative path; directories end with `/`. */
  name: string;
  mode: number;
  /** File content; absent for directories. */
  data?: Uint8Array;
}

const BLOCK = 512;
/** 2025-04-23T00:00:00Z: the files' time in every archive the lab writes. */
export const ARCHIVE_MTIME = 1_745_366_400;

function field(header: Buffer, offset: number, length: number, value: string): void {
  header.write(value, offset, length, 'utf8');
}

function octal(header: Buffer, offset: number, length: number, value: number): void {
  field(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function headerFor(entry: TarEntry): Buffer {
  const header = Buffer.alloc(BLOCK);
  let name = entry.name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155)
      throw new Error(`tar: path too long for ustar: ${entry.name}`);
  }
  const isDir = entry.name.endsWith('/');
  field(header, 0, 100, name);
  octal(header, 100, 8, entry.mode);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  octal(header, 124, 12, isDir ? 0 : (entry.data?.length ?? 0));
  octal(header, 136, 12, ARCHIVE_MTIME);
  field(header, 148, 8, '        ');
  field(header, 156, 1, isDir ? '5' : '0');
  field(header, 257, 6, 'ustar\0');
  field(header, 263, 2, '00');
  field(header, 265, 32, 'root');
  field(header, 297, 32, 'root');
  field(header, 345, 155, prefix);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/** The archive's bytes: each entry's header and padded data, then two zero blocks. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(headerFor(entry));
    if (entry.data && !entry.name.endsWith('/')) {
      parts.push(Buffer.from(entry.data));
      const pad = (BLOCK - (entry.data.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Directory entries for every parent of `paths`, parents first, each once. */
export function parentDirectories(paths: readonly string[]): TarEntry[] {
  const seen = new Set<string>();
  const dirs: TarEntry[] = [];
  for (const p of paths) {
    const parts = p.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = `${parts.slice(0, i).join('/')}/`;
      if (!seen.has(dir)) {
        seen.add(dir);
        dirs.push({ name: dir, mode: 0o755 });
      }
    }
  }
  return dirs;
}
