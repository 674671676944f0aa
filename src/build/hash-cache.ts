/**
 * SHA-256 of base images remembered between builds (many sites are built from one vendor image). An entry
 * is used only while the file's identity and change time are unchanged: any write to the file changes
 * its ctime, so a stale hash cannot be reported.
 */
import { mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface Entry {
  dev: number;
  ino: number;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  sha256: string;
}

function identity(file: string): Omit<Entry, 'sha256'> {
  const s = statSync(file, { bigint: true });
  return {
    dev: Number(s.dev),
    ino: Number(s.ino),
    size: Number(s.size),
    mtimeNs: String(s.mtimeNs),
    ctimeNs: String(s.ctimeNs),
  };
}

function load(cacheFile: string): Record<string, Entry> {
  try {
    return JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, Entry>;
  } catch {
    return {};
  }
}

export function cachedSha256(cacheFile: string, file: string): string | undefined {
  const entry = load(cacheFile)[realpathSync(file)];
  if (!entry) return undefined;
  const now = identity(file);
  const same = (Object.keys(now) as (keyof typeof now)[]).every((k) => now[k] === entry[k]);
  return same ? entry.sha256 : undefined;
}

/** The temporary file `rememberSha256` writes before renaming it over the cache. */
export function hashCacheTemp(cacheFile: string): string {
  return `${cacheFile}.${process.pid}`;
}

/**
 * Best effort: a cache that cannot be written (a full disk) only costs the next build a hash. Returns
 * the error when it failed, having removed its temporary file.
 */
export function rememberSha256(cacheFile: string, file: string, sha256: string): Error | undefined {
  const tmp = hashCacheTemp(cacheFile);
  try {
    const entries = load(cacheFile);
    entries[realpathSync(file)] = { ...identity(file), sha256 };
    mkdirSync(path.dirname(cacheFile), { recursive: true });
    writeFileSync(tmp, `${JSON.stringify(entries, null, 2)}\n`);
    renameSync(tmp, cacheFile);
    return undefined;
  } catch (error) {
    rmSync(tmp, { force: true });
    return error as Error;
  }
}
