/**
 * Paths inside a mounted foreign root filesystem. Its symlinks are absolute from the image's point of
 * view (`/etc/os-release -> /usr/lib/os-release`), so following them naively from the build host would
 * read or, worse, write the host's files. Resolve every component as if chrooted into the mount.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

const MAX_LINKS = 40;

/** Host path of `inner` (absolute inside the image) with symlinks resolved within `root`; missing tails are kept. */
export function resolveInRoot(root: string, inner: string): string {
  let links = 0;
  const pending = inner.split('/').filter(Boolean);
  const resolved: string[] = [];
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = path.join(root, ...resolved, part);
    let stat: ReturnType<typeof lstatSync> | undefined;
    try {
      stat = lstatSync(host);
    } catch {
      stat = undefined;
    }
    if (stat?.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new Error(`too many symbolic links resolving ${inner} in the image`);
      const target = readlinkSync(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}
