/**
 * Reading a kit archive we do not control, one entry at a time and streaming: tar with zstd (the tar
 * package, decompressed by Node's zlib so the reader's back-pressure reaches the file) or zip
 * (node-stream-zip). Entries are described as they are, links and devices included, so the caller can
 * refuse them; nothing here writes anything.
 */
import { constants, createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createZstdDecompress } from 'node:zlib';
import StreamZip from 'node-stream-zip';
import { Parser, type ReadEntry } from 'tar';

export type KitFormat = 'tar.zst' | 'zip';
export const KIT_FORMATS: readonly KitFormat[] = ['tar.zst', 'zip'];

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'device' | 'fifo' | 'other';

export interface ArchiveEntry {
  name: string;
  kind: EntryKind;
  /** Bytes of content the archive declares. */
  size: number;
  /** The entry's content; read it to the end, or do not call it (the reader skips what was not read). */
  content(): AsyncIterable<Buffer>;
}

/** A problem with the archive (not a kit, truncated, corrupt): the message says which; `entry` where. */
export class ArchiveError extends Error {
  readonly entry: string | undefined;
  constructor(message: string, entry?: string) {
    super(message);
    this.entry = entry;
  }
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const EMPTY_ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x05, 0x06]);

/** The kit's format, from its first bytes (never from its name). */
export async function detectFormat(file: string): Promise<KitFormat> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    if (bytesRead === 4 && head.equals(ZSTD_MAGIC)) return 'tar.zst';
    if (bytesRead === 4 && (head.equals(ZIP_MAGIC) || head.equals(EMPTY_ZIP_MAGIC))) return 'zip';
  } finally {
    await handle.close();
  }
  throw new ArchiveError('is not a site kit: neither a zstd-compressed tar nor a zip archive');
}

/**
 * Calls `visit` for each entry in archive order, one at a time; `visit` returns 'stop' to end early.
 * `onBytes` is told the archive bytes read so far (for progress).
 */
export async function forEachEntry(
  file: string,
  visit: (entry: ArchiveEntry) => Promise<'stop' | undefined>,
  onBytes?: (read: number) => void,
): Promise<KitFormat> {
  const format = await detectFormat(file);
  if (format === 'zip') await forEachZipEntry(file, visit, onBytes);
  else await forEachTarEntry(file, visit, onBytes);
  return format;
}

const TAR_KINDS: Record<string, EntryKind> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'directory',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
  CharacterDevice: 'device',
  BlockDevice: 'device',
  FIFO: 'fifo',
};

async function forEachTarEntry(
  file: string,
  visit: (entry: ArchiveEntry) => Promise<'stop' | undefined>,
  onBytes?: (read: number) => void,
): Promise<void> {
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  const unzip = createZstdDecompress();
  // strict: a bad header checksum, a truncated archive or an invalid entry is an error, not a warning.
  const parser = new Parser({ strict: true });
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  let failure: unknown;
  let current: { entry: ReadEntry; read: boolean } | undefined;
  let finish = () => {};
  const stop = () => {
    stopped = true;
    source.destroy();
    unzip.destroy();
    // The file may have been read to its end already: its streams have nothing more to say.
    finish();
  };
  if (onBytes) source.on('data', () => onBytes(source.bytesRead));
  parser.on('entry', (entry: ReadEntry) => {
    // The parser emits the next entry only after this one's content has been consumed.
    chain = chain.then(async () => {
      if (stopped) return void entry.resume();
      const now = { entry, read: false };
      current = now;
      try {
        const answer = await visit({
          name: entry.path,
          kind: TAR_KINDS[entry.type] ?? 'other',
          size: entry.size ?? 0,
          content: () => {
            now.read = true;
            return entry as unknown as AsyncIterable<Buffer>;
          },
        });
        if (!now.read) entry.resume();
        current = undefined;
        if (answer === 'stop') stop();
      } catch (error) {
        failure ??= error;
        entry.resume();
        stop();
      }
    });
  });
  let unzipError: Error | undefined;
  let broken: ArchiveError | undefined;
  await new Promise<void>((resolve) => {
    finish = resolve;
    const fail = (error: Error) => {
      if (stopped) return resolve();
      const name = current?.entry.path;
      const where = name ? ` (while reading ${name})` : '';
      broken ??= new ArchiveError(
        error === unzipError
          ? `is not a valid zstd stream${where}: ${error.message}`
          : `is not a valid tar archive${where}: ${error.message}`,
        name,
      );
      // The entry being read will get no more data: end its reader with the error so nothing waits.
      if (current?.read) current.entry.destroy(broken);
      stop();
      resolve();
    };
    source.on('error', fail);
    unzip.on('error', (error) => {
      unzipError = error;
      fail(error);
    });
    parser.on('error', fail);
    parser.on('end', () => resolve());
    source.pipe(unzip).pipe(parser as unknown as NodeJS.WritableStream);
  });
  await chain;
  if (broken) throw broken;
  if (failure) throw failure;
}

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO } = constants;
const ZIP_KINDS = new Map<number, EntryKind>([
  [S_IFREG, 'file'],
  [S_IFDIR, 'directory'],
  [S_IFLNK, 'symlink'],
  [S_IFCHR, 'device'],
  [S_IFBLK, 'device'],
  [S_IFIFO, 'fifo'],
]);

async function forEachZipEntry(
  file: string,
  visit: (entry: ArchiveEntry) => Promise<'stop' | undefined>,
  onBytes?: (read: number) => void,
): Promise<void> {
  // Our own name checks report the entry; the library's would refuse the whole archive without saying why.
  const zip = new StreamZip.async({ file, skipEntryNameValidation: true });
  try {
    let entries: Record<string, StreamZip.ZipEntry>;
    let count: number;
    try {
      entries = await zip.entries();
      count = await zip.entriesCount;
    } catch (error) {
      throw new ArchiveError(`is not a valid zip archive: ${(error as Error).message}`);
    }
    const list = Object.values(entries);
    if (list.length !== count) {
      // The library keeps one entry per name: fewer entries than the directory lists means duplicates.
      throw new ArchiveError(`holds duplicate entry names (${count} entries, ${list.length} distinct names)`);
    }
    let read = 0;
    for (const entry of list) {
      const type = (entry.attr >>> 16) & S_IFMT;
      const kind: EntryKind = entry.isDirectory
        ? 'directory'
        : type === 0
          ? 'file' // made on a system without Unix modes
          : (ZIP_KINDS.get(type) ?? 'other');
      const answer = await visit({
        name: entry.name,
        kind,
        size: entry.size,
        content: () => zipContent(zip, entry.name),
      });
      read += entry.compressedSize;
      onBytes?.(read);
      if (answer === 'stop') return;
    }
  } finally {
    await zip.close().catch(() => {});
  }
}

async function* zipContent(zip: InstanceType<typeof StreamZip.async>, name: string): AsyncIterable<Buffer> {
  let stream: Readable;
  try {
    stream = (await zip.stream(name)) as unknown as Readable;
  } catch (error) {
    throw new ArchiveError(`cannot be read: ${(error as Error).message}`, name);
  }
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (error) {
    throw new ArchiveError(`is corrupt: ${(error as Error).message}`, name);
  }
}
