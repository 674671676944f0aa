/**
 * Writes the lab's stand-in for an RKE2 release: the file names, tarball layout, checksum file and
 * docker-save image archives of a published release (rke2-contract.md §1.2-§1.4), with `bin/rke2` being
 * the stand-in program in ./rke2-standin.py. Output is deterministic: the same version and architecture
 * give the same bytes. Every file appears atomically (written aside, then renamed), the checksum file last.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { dockerSaveArchive } from './docker-archive.ts';
import { imageComponents, legacyImages, type Rke2Arch, runtimeImage } from './images.ts';
import { parentDirectories, type TarEntry, tarArchive } from './tar-writer.ts';

const here = import.meta.dirname;
const VERSION_PATTERN = /^v\d+\.\d+\.\d+(-rc\d+)?\+rke2r\d+$/;

export interface ReleaseOptions {
  /** e.g. v1.32.4+rke2r1 */
  version: string;
  /** `x86_64`/`amd64` or `aarch64`/`arm64`, as install.sh accepts them. */
  arch: string;
  outDir: string;
  /** Also write an air-gap capable install.sh (default true). */
  installScript?: boolean;
}

export interface ReleaseFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface Release {
  version: string;
  arch: Rke2Arch;
  dir: string;
  files: ReleaseFile[];
  /** The image `agent/images` must hold for a node to turn Ready. */
  runtimeImage: string;
}

/** install.sh's mapping of `uname -m` to RKE2's architecture names. */
export function rke2Arch(arch: string): Rke2Arch | undefined {
  if (arch === 'x86_64' || arch === 'amd64') return 'amd64';
  if (arch === 'aarch64' || arch === 'arm64') return 'arm64';
  return undefined;
}

export function isRke2Version(version: string): boolean {
  return VERSION_PATTERN.test(version);
}

/** `bin/rke2`: the stand-in program with its version filled in. */
export function standInProgram(version: string): Buffer {
  const source = readFileSync(path.join(here, 'rke2-standin.py'), 'utf8');
  if (!source.includes("VERSION = 'dev'")) throw new Error('rke2-standin.py: version line not found');
  return Buffer.from(source.replace("VERSION = 'dev'", `VERSION = '${version}'`));
}

/** The install bundle's entries (bin, lib, share) as rancher/rke2 `scripts/package-bundle` lays them out. */
function bundleEntries(program: Buffer): TarEntry[] {
  const bundleDir = path.join(here, 'bundle');
  const files: TarEntry[] = [{ name: 'bin/rke2', mode: 0o755, data: program }];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(bundleDir, rel)).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      if (statSync(path.join(bundleDir, child)).isDirectory()) walk(child);
      else
        files.push({
          name: child,
          mode: child.endsWith('.sh') ? 0o755 : 0o644,
          data: readFileSync(path.join(bundleDir, child)),
        });
    }
  };
  walk('');
  files.sort((a, b) => a.name.localeCompare(b.name));
  return [...parentDirectories(files.map((f) => f.name)), ...files];
}

const gzip = (data: Buffer) => gzipSync(data, { level: 9 });
const zstd = (data: Buffer) =>
  zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: 16 } });

/** Every file of the release, by name, in the order they are written. */
export function releaseContents(version: string, arch: Rke2Arch): Map<string, Buffer> {
  const suffix = `linux-${arch}`;
  const program = standInProgram(version);
  const out = new Map<string, Buffer>();
  out.set(`rke2.${suffix}`, program);
  out.set(`rke2.${suffix}.tar.gz`, gzip(tarArchive(bundleEntries(program))));
  const components = imageComponents(version, arch);
  const archives: [string, string[]][] = [
    ['rke2-images', legacyImages(components)],
    ...components.map((c): [string, string[]] => [`rke2-images-${c.name}`, c.images]),
  ];
  for (const [base, images] of archives) {
    const archive = dockerSaveArchive(images, arch);
    out.set(`${base}.${suffix}.tar.zst`, zstd(archive));
    out.set(`${base}.${suffix}.tar.gz`, gzip(archive));
    out.set(`${base}.${suffix}.txt`, Buffer.from(images.map((i) => `${i}\n`).join('')));
  }
  const all = [...new Set(components.flatMap((c) => c.images))].sort();
  out.set(`rke2-images-all.${suffix}.txt`, Buffer.from(all.map((i) => `${i}\n`).join('')));
  return out;
}

/** `sha256sum` lines (`<hex>␠␠<name>`) for every artefact whose name carries the architecture, sorted. */
export function checksumFile(contents: Map<string, Buffer>, arch: Rke2Arch): string {
  return [...contents.keys()]
    .filter((name) => name.includes(arch))
    .sort()
    .map((name) => `${createHash('sha256').update(contents.get(name)!).digest('hex')}  ${name}\n`)
    .join('');
}

async function writeAtomically(dir: string, name: string, data: Buffer | string, mode: number) {
  const partial = path.join(dir, `.${name}.partial`);
  await writeFile(partial, data, { mode });
  await rename(partial, path.join(dir, name));
}

export async function writeRke2Release(options: ReleaseOptions): Promise<Release> {
  const arch = rke2Arch(options.arch);
  if (!arch) throw new Error(`unsupported architecture '${options.arch}' (x86_64, amd64, aarch64, arm64)`);
  if (!isRke2Version(options.version))
    throw new Error(`version '${options.version}' is not an RKE2 release version like v1.32.4+rke2r1`);
  const contents = releaseContents(options.version, arch);
  const sums = checksumFile(contents, arch);
  await mkdir(options.outDir, { recursive: true });
  // A checksum file from an earlier run must not vouch for files while they are being replaced.
  await rm(path.join(options.outDir, `sha256sum-${arch}.txt`), { force: true });
  for (const [name, data] of contents)
    await writeAtomically(options.outDir, name, data, name === `rke2.linux-${arch}` ? 0o755 : 0o644);
  if (options.installScript !== false)
    await writeAtomically(options.outDir, 'install.sh', readFileSync(path.join(here, 'install.sh')), 0o755);
  await writeAtomically(options.outDir, `sha256sum-${arch}.txt`, sums, 0o644);
  const files: ReleaseFile[] = [...contents].map(([name, data]) => ({
    name,
    bytes: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
  }));
  return {
    version: options.version,
    arch,
    dir: options.outDir,
    files,
    runtimeImage: runtimeImage(options.version),
  };
}
