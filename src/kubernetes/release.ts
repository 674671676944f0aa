import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '../definition/types.ts';

/**
 * The RKE2 release a config dir carries for the air gap, as published on RKE2's release page:
 * `kubernetes/install/rke2.linux-<arch>.tar.gz`, `sha256sum-<arch>.txt`, the `rke2-images*.linux-<arch>.tar.zst|.tar.gz`
 * archives and, optionally, RKE2's own `install.sh`. Nothing is downloaded at build time.
 */
export const RELEASE_DIR = 'kubernetes/install';
export const INSTALL_SCRIPT = 'install.sh';

/** RKE2 names its assets after Go's architecture names. */
export function releaseArch(arch: Arch): 'amd64' | 'arm64' {
  return arch === 'aarch64' ? 'arm64' : 'amd64';
}

export interface ReleaseFiles {
  /** Absolute path of `kubernetes/install`. */
  dir: string;
  tarball: string;
  checksums: string;
  /**
   * Every rke2-images* archive for the image, sorted; when an archive is there as .tar.zst and .tar.gz,
   * only the .tar.zst (RKE2 would import the same images twice).
   */
  images: string[];
  installScript?: string;
}

/** A problem with one file of the release, relative to the config dir. */
export interface ReleaseProblem {
  file: string;
  message: string;
}

export function releaseNames(arch: Arch) {
  const a = releaseArch(arch);
  return {
    tarball: `rke2.linux-${a}.tar.gz`,
    checksums: `sha256sum-${a}.txt`,
    images: new RegExp(`^rke2-images(-[a-z0-9-]+)?\\.linux-${a}\\.tar\\.(zst|gz)$`),
    /** Also on a release page, not needed in the image: the bare binary and the image lists. */
    extras: new RegExp(`^(rke2\\.linux-${a}|rke2-images(-[a-z0-9-]+)?\\.linux-${a}\\.txt)$`),
    imagesExample: `rke2-images-core.linux-${a}.tar.zst`,
  };
}

/**
 * Checks names, presence and every checksum against the release's sha256sum file. Returns the files
 * when all is well, else every problem found (each naming its file). Reads every archive once (validate
 * does, before a build writes anything; the build itself then only lists the files again).
 */
export async function checkRelease(
  configDir: string,
  arch: Arch,
  opts: {
    verifyChecksums?: boolean;
    /** sha256 of files just verified by the caller (`artefacts pull`), by name: not read again. */
    verified?: ReadonlyMap<string, string>;
  } = {},
): Promise<{ release?: ReleaseFiles; problems: ReleaseProblem[] }> {
  const names = releaseNames(arch);
  const dir = path.join(configDir, RELEASE_DIR);
  const at = (name: string) => `${RELEASE_DIR}/${name}`;
  const problems: ReleaseProblem[] = [];
  const linked = await linkOnTheWay(configDir, RELEASE_DIR);
  if (linked)
    return {
      problems: [{ file: linked, message: 'must be a folder, not a link (nothing is read through links)' }],
    };
  let entries: string[];
  try {
    entries = (await readdir(dir)).sort();
  } catch {
    return {
      problems: [
        {
          file: RELEASE_DIR,
          message: `not found: it must hold the RKE2 release (${names.tarball}, ${names.checksums}, ${names.imagesExample} ...)`,
        },
      ],
    };
  }
  const images: string[] = [];
  const extras: string[] = [];
  let installScript: string | undefined;
  for (const name of entries) {
    const info = await lstat(path.join(dir, name));
    if (!info.isFile()) {
      problems.push({ file: at(name), message: 'must be a regular file (not a link or a folder)' });
      continue;
    }
    if (name === names.tarball || name === names.checksums) continue;
    if (name === INSTALL_SCRIPT) installScript = name;
    else if (names.images.test(name)) images.push(name);
    else if (names.extras.test(name)) extras.push(name);
    else {
      problems.push({
        file: at(name),
        message: `is not part of an RKE2 release for ${arch} (expected the files of an RKE2 release page for linux-${releaseArch(arch)}, or install.sh)`,
      });
    }
  }
  for (const required of [names.tarball, names.checksums]) {
    if (!entries.includes(required)) problems.push({ file: at(required), message: 'not found' });
  }
  if (images.length === 0) {
    problems.push({
      file: at(names.imagesExample),
      message: `not found: the release needs its image archives (rke2-images*.linux-${releaseArch(arch)}.tar.zst or .tar.gz)`,
    });
  }
  if (problems.length > 0) return { problems };

  const sums = parseChecksums(await readFile(path.join(dir, names.checksums), 'utf8'));
  if (typeof sums === 'string') return { problems: [{ file: at(names.checksums), message: sums }] };
  for (const name of [names.tarball, ...images, ...extras]) {
    if (opts.verifyChecksums === false) break;
    const expected = sums.get(name);
    if (!expected) {
      problems.push({ file: at(name), message: `has no line in ${names.checksums}` });
      continue;
    }
    const actual = opts.verified?.get(name) ?? (await sha256File(path.join(dir, name)));
    if (actual !== expected) {
      problems.push({
        file: at(name),
        message: `checksum mismatch: sha256 is ${actual}, ${names.checksums} says ${expected}`,
      });
    }
  }
  if (problems.length > 0) return { problems };
  return {
    release: {
      dir,
      tarball: names.tarball,
      checksums: names.checksums,
      images: images.filter((n) => !(n.endsWith('.tar.gz') && images.includes(n.replace(/\.gz$/, '.zst')))),
      installScript,
    },
    problems,
  };
}

/** `sha256sum` output: `<64 hex>  <name>` (or ` *<name>` in binary mode), one per line. */
export function parseChecksums(text: string): Map<string, string> | string {
  const sums = new Map<string, string>();
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const m = /^([0-9a-f]{64}) [ *]([^\s/]+)$/.exec(line.trimEnd());
    if (!m) return `line ${i + 1}: expected '<sha256>  <file name>' as sha256sum writes it`;
    if (sums.has(m[2]!)) return `line ${i + 1}: ${m[2]} is listed twice`;
    sums.set(m[2]!, m[1]!);
  }
  return sums;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The first component of `relative` (under `configDir`) that is a symbolic link, if any. */
export async function linkOnTheWay(configDir: string, relative: string): Promise<string | undefined> {
  const parts = relative.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const sub = parts.slice(0, i).join('/');
    const info = await lstat(path.join(configDir, sub)).catch(() => undefined);
    if (!info) return undefined;
    if (info.isSymbolicLink()) return sub;
  }
  return undefined;
}
