/**
 * Checking an unpacked kit (a folder) against its manifest, streaming each file: the same rules as for
 * an archive (scan.ts). Every file must be a regular file at its own path (no links, not even inside),
 * and nothing may be there that the manifest does not list.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { joinInside, readRegularFile, walkInside } from '../common/contained-fs.ts';
import { MANIFEST_NAME, MAX_MANIFEST_BYTES, ManifestError, parseManifest } from './manifest.ts';
import type { ScanResult } from './scan.ts';

export async function scanTree(
  dir: string,
  o: { onProgress?: (done: number, total: number) => void } = {},
): Promise<ScanResult> {
  const result: ScanResult = { problems: [], files: 0, bytes: 0 };
  const read = await readRegularFile(`${dir}/${MANIFEST_NAME}`, MAX_MANIFEST_BYTES);
  if (read.kind !== 'text') {
    result.problems.push({
      path: MANIFEST_NAME,
      message: read.kind === 'missing' ? 'is missing: this folder is not an unpacked site kit' : read.message,
    });
    return result;
  }
  try {
    result.manifest = parseManifest(read.text);
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    for (const p of error.problems)
      result.problems.push({
        path: MANIFEST_NAME,
        message: p.field ? `${p.field}: ${p.message}` : p.message,
      });
    return result;
  }
  result.manifestText = read.text;
  const listed = new Set([MANIFEST_NAME, ...result.manifest.files.map((f) => f.path)]);
  const walked = await walkInside(dir, '.');
  for (const p of walked.problems)
    result.problems.push({ path: p.relative.replace(/^\.\//, ''), message: p.message });
  for (const f of walked.files)
    if (!listed.has(f.relative))
      result.problems.push({ path: f.relative, message: 'is not listed in the manifest' });
  const total = result.manifest.files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  for (const file of result.manifest.files) {
    const absolute = joinInside(dir, file.path)!;
    const info = await lstat(absolute).catch(() => undefined);
    if (!info) {
      result.problems.push({
        path: file.path,
        message: 'is listed in the manifest but missing from the kit',
      });
      continue;
    }
    if (!info.isFile()) {
      result.problems.push({
        path: file.path,
        message: 'is not a regular file (kits hold regular files only)',
      });
      continue;
    }
    const handle = await open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
        o.onProgress?.(done + size, total);
      }
    } finally {
      await handle.close();
    }
    done += file.size;
    const digest = hash.digest('hex');
    if (size !== file.size)
      result.problems.push({
        path: file.path,
        message: `size mismatch: ${size} bytes, the manifest says ${file.size}`,
      });
    else if (digest !== file.sha256)
      result.problems.push({
        path: file.path,
        message: `sha256 mismatch: the content hashes to ${digest}, the manifest says ${file.sha256}`,
      });
    else {
      result.files++;
      result.bytes += size;
    }
  }
  return result;
}
