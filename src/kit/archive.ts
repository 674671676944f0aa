/**
 * Reading a kit archive we do not control, one entry at a time and streaming: tar with zstd (the tar
 * package, decompressed by Node's zlib so the reader's back-pressure reaches the file) or zip
 * (node-stream-zip). Entries are described as they are, links and devices included, so the caller can
 * refuse them; nothing here writes anything.
 */
import { createReadStream } from 'node:fs';
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

/** A problem with the archive as a whole (not a kit, truncated, corrupt): the message says which. */
export class ArchiveError extends Error {}

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
  const stop = () => {
    stopped = true;
    source.destroy();
    unzip.destroy();
  };
  if (onBytes) source.on('data', () => onBytes(source.bytesRead));
  parser.on('entry', (entry: ReadEntry) => {
    // The parser emits the next entry only after this one's content has been consumed.
    chain = chain.then(async () => {
      if (stopped) return void entry.resume();
      let read = false;
      try {
        const answer = await visit({
          name: entry.path,
          kind: TAR_KINDS[entry.type] ?? 'other',
          size: entry.size ?? 0,
          content: () => {
            read = true;
            return entry as unknown as AsyncIterable<Buffer>;
          },
        });
        if (!read) entry.resume();
        if (answer === 'stop') stop();
      } catch (error) {
        failure ??= error;
        entry.resume();
        stop();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error) => {
      if (stopped) return resolve();
      reject(
        new ArchiveError(
          (error as NodeJS.ErrnoException).code?.startsWith('ERR_')
            ? `is not a valid zstd stream: ${error.message}`
            : `is not a valid tar archive: ${error.message}`,
        ),
      );
    };
    source.on('error', (e) => reject(e));
    unzip.on('error', fail);
    parser.on('error', fail);
    source.on('close', () => {
      if (stopped) resolve();
    });
    parser.on('end', () => resolve());
    source.pipe(unzip).pipe(parser as unknown as NodeJS.WritableStream);
  });
  await chain;
  if (failure) throw failure;
}

const S_IFMT = 0o170000;
const ZIP_KINDS: Record<number, EntryKind> = {
  16807: 'file',
  9604: 'directory',
  21609: 'symlink',
  4802: 'device',
  14406: 'device',
  2401: 'fifo',
};

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
          : (ZIP_KINDS[type] ?? 'other');
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
    throw new ArchiveError(`entry ${name} cannot be read: ${(error as Error).message}`);
  }
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (error) {
    throw new ArchiveError(`entry ${name} is corrupt: ${(error as Error).message}`);
  }
}
