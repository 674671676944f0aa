/**
 * Checking a kit archive against its manifest while streaming it: the one set of rules `kit verify`,
 * `kit unpack` and `kit import` apply. The manifest must come first; every other entry must be a regular
 * file the manifest lists, once, with its size and SHA-256. Nothing is held in memory but the manifest.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { type ArchiveEntry, ArchiveError, forEachEntry, type KitFormat } from './archive.ts';
import {
  entryNameProblem,
  type KitFile,
  type KitManifest,
  MANIFEST_NAME,
  MAX_MANIFEST_BYTES,
  ManifestError,
  parseManifest,
} from './manifest.ts';

export interface KitProblem {
  /** The entry (or `outpost-kit.json` field) the problem is about. */
  path: string;
  message: string;
}

/** Where a verified entry's content goes (unpack); without a sink, entries are only hashed. */
export interface EntrySink {
  /** 'skip' when this file is already in place and verified (a resumed unpack). */
  open(file: KitFile): Promise<EntryWriter | 'skip'>;
  /** Called with the manifest before any other entry is read. */
  manifest?(manifest: KitManifest, manifestText: string): Promise<void>;
}

export interface EntryWriter {
  write(chunk: Buffer): Promise<void>;
  /** The content matched the manifest: make the file final. */
  commit(): Promise<void>;
  /** It did not, or reading failed: remove what was written. */
  discard(): Promise<void>;
}

export interface ScanResult {
  format?: KitFormat;
  manifest?: KitManifest;
  manifestText?: string;
  problems: KitProblem[];
  /** Files checked (or skipped as already in place) and their bytes. */
  files: number;
  bytes: number;
}

export interface ScanOptions {
  sink?: EntrySink;
  /** Stop at the first problem (unpack, import); verify reports them all. */
  stopAtFirst?: boolean;
  /** Read the manifest and stop. */
  manifestOnly?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Thrown by visit to end the scan at a problem. */
class Stop extends Error {}

export async function scanKit(kit: string, o: ScanOptions = {}): Promise<ScanResult> {
  const result: ScanResult = { problems: [], files: 0, bytes: 0 };
  const seen = new Set<string>();
  let byPath = new Map<string, KitFile>();
  const total = (await stat(kit)).size;
  const problem = (path: string, message: string, fatal = false): undefined => {
    result.problems.push({ path, message });
    if (fatal || o.stopAtFirst) throw new Stop();
    return undefined;
  };

  const visit = async (entry: ArchiveEntry): Promise<'stop' | undefined> => {
    if (!result.manifest) {
      if (entry.name !== MANIFEST_NAME || entry.kind !== 'file')
        problem(
          entry.name,
          `the first entry must be the manifest ${MANIFEST_NAME}: this is not a site kit`,
          true,
        );
      if (entry.size > MAX_MANIFEST_BYTES)
        problem(MANIFEST_NAME, `is larger than ${MAX_MANIFEST_BYTES} bytes`, true);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of entry.content()) {
        size += chunk.length;
        if (size > MAX_MANIFEST_BYTES)
          problem(MANIFEST_NAME, `is larger than ${MAX_MANIFEST_BYTES} bytes`, true);
        chunks.push(chunk);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        result.manifest = parseManifest(text);
      } catch (error) {
        if (!(error instanceof ManifestError)) throw error;
        for (const p of error.problems)
          result.problems.push({
            path: MANIFEST_NAME,
            message: p.field ? `${p.field}: ${p.message}` : p.message,
          });
        throw new Stop();
      }
      result.manifestText = text;
      byPath = new Map(result.manifest.files.map((f) => [f.path, f]));
      seen.add(MANIFEST_NAME);
      await o.sink?.manifest?.(result.manifest, text);
      return o.manifestOnly ? 'stop' : undefined;
    }
    const nameProblem = entryNameProblem(entry.name);
    if (nameProblem) return problem(entry.name, nameProblem);
    if (seen.has(entry.name)) return problem(entry.name, 'appears twice in the archive (a duplicate name)');
    seen.add(entry.name);
    if (entry.kind !== 'file')
      return problem(entry.name, `is ${KIND_WORDS[entry.kind]}: kits hold regular files only`);
    const file = byPath.get(entry.name);
    if (!file) return problem(entry.name, 'is not listed in the manifest');
    if (entry.size !== file.size)
      return problem(
        entry.name,
        `size mismatch: the archive holds ${entry.size} bytes, the manifest says ${file.size}`,
      );
    const writer = o.sink ? await o.sink.open(file) : undefined;
    if (writer === 'skip') {
      result.files++;
      result.bytes += file.size;
      return;
    }
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of entry.content()) {
        size += chunk.length;
        hash.update(chunk);
        await writer?.write(chunk);
      }
    } catch (error) {
      await writer?.discard();
      throw error;
    }
    const digest = hash.digest('hex');
    if (size !== file.size || digest !== file.sha256) {
      await writer?.discard();
      return problem(
        entry.name,
        size !== file.size
          ? `size mismatch: read ${size} bytes, the manifest says ${file.size}`
          : `sha256 mismatch: the content hashes to ${digest}, the manifest says ${file.sha256}`,
      );
    }
    await writer?.commit();
    result.files++;
    result.bytes += size;
    return undefined;
  };

  try {
    result.format = await forEachEntry(kit, visit, o.onProgress && ((done) => o.onProgress!(done, total)));
  } catch (error) {
    if (error instanceof Stop) return result;
    if (error instanceof ArchiveError) {
      result.problems.push({ path: error.entry ?? '', message: error.message });
      return result;
    }
    throw error;
  }
  if (!result.manifest) {
    result.problems.push({ path: '', message: `holds no manifest ${MANIFEST_NAME}: this is not a site kit` });
  } else if (!o.manifestOnly) {
    for (const f of result.manifest.files)
      if (!seen.has(f.path))
        result.problems.push({ path: f.path, message: 'is listed in the manifest but missing from the kit' });
  }
  return result;
}

const KIND_WORDS: Record<ArchiveEntry['kind'], string> = {
  file: 'a regular file',
  directory: 'a directory entry',
  symlink: 'a symbolic link',
  hardlink: 'a hard link',
  device: 'a device node',
  fifo: 'a FIFO (named pipe)',
  other: 'an entry of an unknown type',
};
