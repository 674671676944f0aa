import { createHash } from 'node:crypto';
import type { BundleFile } from './types.ts';

/**
 * sha256 over a canonical listing of the files: one line `path NUL mode(octal) NUL sha256(content)` per
 * file, sorted by path. Stable across runs and independent of the order contributors returned files in.
 */
export function bundleDigest(files: readonly BundleFile[]): string {
  const lines = files
    .map((f) => `${f.path}\0${f.mode.toString(8)}\0${sha256(f.content)}\n`)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sha256(lines.join(''));
}

export function sha256(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}
