/**
 * SHA-256 of base images remembered between builds (many sites are built from one vendor image). An entry
 * is used only while the file's identity and change time are unchanged: any write to the file changes
 * its ctime, so a stale hash cannot be reported.
 */
import { mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
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

export function rememberSha256(cacheFile: string, file: string, sha256: string): void {
  const entries = load(cacheFile);
  entries[realpathSync(file)] = { ...identity(file), sha256 };
  mkdirSync(path.dirname(cacheFile), { recursive: true });
  const tmp = `${cacheFile}.${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(entries, null, 2)}\n`);
  renameSync(tmp, cacheFile);
}
