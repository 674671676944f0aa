/**
 * `outpost kit create`: one archive a site can be prepared from. Layout inside the kit:
 *
 *   outpost-kit.json          the manifest (first entry): every file's path, size, sha256, mode
 *   config/<definition>       the definition and the config dir's input folders (contained: no link out)
 *   images/<name>, .sha256    the built images with their checksums
 *   inventory/<file>          the inventory without BMC credentials
 *
 * The archive is written under a hidden temporary name, checked entry by entry against its manifest,
 * then published with `KIT.sha256` beside it as `outpost build` publishes images.
 */
import { createHash } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { create as createTar } from 'tar';
import { loadDefinition } from '../build/load-definition.ts';
import { stopPoint } from '../build/test-stop.ts';
import { findInside, readOperatorFile, walkInside } from '../common/contained-fs.ts';
import { type Diagnostic, InputError, OperationError } from '../common/diagnostics.ts';
import { isSafePathComponent } from '../common/names.ts';
import { INPUT_FOLDERS } from '../definition/checks/output-image.ts';
import { loadCheckedInventoryFiles } from '../service/inventory.ts';
import type { KitFormat } from './archive.ts';
import { stripSecrets } from './inventory-secrets.ts';
import {
  entryNameProblem,
  formatMode,
  KIT_DIRS,
  KIT_FORMAT,
  KIT_FORMAT_VERSION,
  type KitFile,
  type KitManifest,
  MANIFEST_NAME,
  type SecretNeeded,
} from './manifest.ts';
import { scanKit } from './scan.ts';
import { refusal } from './unpack.ts';

export interface CreateKitOptions {
  configDir: string;
  /** Relative to the config dir, as for `outpost build`. */
  definitionFile: string;
  images: string[];
  inventories: string[];
  format: KitFormat;
  output: string;
  /** Include `base-images/` (the vendor images the definition builds from); default true. */
  baseImages?: boolean;
  outpostVersion: string;
  onStep?: (line: string) => void;
  onProgress?: (step: string, done: number, total: number) => void;
}

export interface CreatedKit {
  output: string;
  checksumFile: string;
  format: KitFormat;
  size: number;
  sha256: string;
  files: number;
  bytes: number;
  secretsNeeded: SecretNeeded[];
}

type Source = { path: string; mode: number } & ({ real: string; size: number } | { text: string });

const BUILD_DIR = '_build';

export async function createKit(o: CreateKitOptions): Promise<CreatedKit> {
  const output = path.resolve(o.output);
  const outDir = path.dirname(output);
  const base = path.basename(output);
  if (!isSafePathComponent(base)) throw new InputError(`--output ${o.output}: not a plain file name`);
  if (!(await stat(outDir).catch(() => undefined))?.isDirectory())
    throw new InputError(`--output ${o.output}: the folder ${outDir} does not exist`);
  await reclaimDeadRuns(outDir, base, o.onStep);
  await checkDefinition(o);

  const sources = [...(await configSources(o)), ...(await imageSources(o.images))];
  const inventory = inventorySources(o.inventories);
  sources.push(...inventory.sources);
  // The names a reader will refuse are refused here, naming the file (a newline, a backslash, ...).
  const badNames = sources.flatMap((source) => {
    const problem = entryNameProblem(source.path);
    return problem
      ? [
          {
            file: 'real' in source ? source.real : source.path,
            line: 1,
            col: 1,
            path: '',
            message: `${problem}: it cannot travel in a kit`,
          },
        ]
      : [];
  });
  if (badNames.length) throw new InputError(`${badNames.length} file(s) cannot travel in a kit:`, badNames);

  // Hash everything first: the manifest leads the archive so a reader can check as it streams.
  const total = sources.reduce((n, s) => n + ('size' in s ? s.size : 0), 0);
  let done = 0;
  o.onStep?.(`hashing ${sources.length} files (${total} bytes)`);
  const files: KitFile[] = [];
  for (const source of sources) {
    const { sha256, size } =
      'text' in source
        ? { sha256: sha256Of(source.text), size: Buffer.byteLength(source.text) }
        : await hashFile(source.real, (n) => o.onProgress?.('hash', done + n, total));
    if ('size' in source) done += source.size;
    files.push({ path: source.path, size, sha256, mode: formatMode(source.mode) });
  }
  await checkImageChecksums(files, sources);
  const manifest: KitManifest = {
    format: KIT_FORMAT,
    formatVersion: KIT_FORMAT_VERSION,
    outpostVersion: o.outpostVersion,
    created: new Date().toISOString(),
    definition: `${KIT_DIRS.config}/${path.posix.normalize(o.definitionFile)}`,
    images: files
      .filter((f) => f.path.startsWith(`${KIT_DIRS.images}/`) && !f.path.endsWith('.sha256'))
      .map((f) => f.path),
    inventory: inventory.sources.map((s) => s.path),
    secretsNeeded: inventory.secretsNeeded,
    files,
  };

  const stage = path.join(outDir, `.${base}.stage-${process.pid}`);
  const temp = path.join(outDir, `.${base}.partial-${process.pid}`);
  try {
    await rm(stage, { recursive: true, force: true });
    await rm(temp, { force: true });
    await mkdir(stage, { mode: 0o700 });
    // The stage holds links to the (checked) sources and the generated files; the archivers follow the
    // links, so the kit holds regular files only.
    await writeFile(path.join(stage, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`, {
      mode: 0o644,
    });
    for (const source of sources) {
      const staged = path.join(stage, source.path);
      await mkdir(path.dirname(staged), { recursive: true });
      if ('text' in source) await writeFile(staged, source.text, { mode: source.mode });
      else await symlink(source.real, staged);
    }
    const names = [MANIFEST_NAME, ...sources.map((s) => s.path)];
    o.onStep?.(`packing ${names.length} entries as ${o.format}`);
    if (o.format === 'zip') await packZip(stage, temp, names);
    else await packTar(stage, temp, names);
    // Crash-safety tests kill the run here (OUTPOST_TEST_STOP_AT=kit-create:packed).
    stopPoint('kit-create:packed');
    o.onStep?.('checking the kit against its manifest');
    const check = await scanKit(temp, {
      ...(o.onProgress && { onProgress: (d: number, t: number) => o.onProgress!('check', d, t) }),
    });
    if (check.problems.length) {
      // A source changed while it was packed.
      throw new OperationError(refusal(base, check.problems).message);
    }
    const size = (await stat(temp)).size;
    const sha256 = (await hashFile(temp, (n) => o.onProgress?.('checksum', n, size))).sha256;
    const checksumFile = `${output}.sha256`;
    await publish(temp, output, checksumFile, `${sha256}  ${base}\n`);
    return {
      output,
      checksumFile,
      format: o.format,
      size,
      sha256,
      files: files.length,
      bytes: total,
      secretsNeeded: manifest.secretsNeeded,
    };
  } finally {
    await rm(stage, { recursive: true, force: true });
    await rm(temp, { force: true });
  }
}

/**
 * A kit carries a definition the site can build from: it is checked exactly as `outpost validate` checks
 * it. Without base images in the kit, the base image need not be on this machine either.
 */
async function checkDefinition(o: CreateKitOptions): Promise<void> {
  const { diagnostics } = await loadDefinition({
    configDir: o.configDir,
    definitionFile: o.definitionFile,
    env: process.env,
  });
  const problems = diagnostics.filter(
    (d) =>
      o.baseImages !== false ||
      !(d.path === 'image.baseImage' && d.message.startsWith('base image not found')),
  );
  if (problems.length)
    throw new InputError(`the definition has ${problems.length} problem(s); no kit was made:`, problems);
}

/** The definition and the config dir's input folders (as the builder reads them), below `config/`. */
async function configSources(o: CreateKitOptions): Promise<Source[]> {
  const diagnostics: Diagnostic[] = [];
  const at = (relative: string, message: string) =>
    diagnostics.push({
      file: path.join(o.configDir, relative),
      line: 1,
      col: 1,
      path: '',
      message,
      section: 'Config dir',
    });
  const sources: Source[] = [];
  const definition = await findInside(o.configDir, o.definitionFile);
  if (definition.kind === 'file') {
    sources.push({
      path: `${KIT_DIRS.config}/${path.posix.normalize(o.definitionFile)}`,
      real: definition.real,
      size: definition.size,
      mode: definition.mode,
    });
  } else {
    at(
      o.definitionFile,
      definition.kind === 'missing'
        ? 'the definition file does not exist'
        : definition.kind === 'problem'
          ? definition.message
          : 'is a folder, not a definition file',
    );
  }
  const folders = INPUT_FOLDERS.filter(
    (f) => f !== BUILD_DIR && (o.baseImages !== false || f !== 'base-images'),
  );
  for (const folder of folders) {
    const walked = await walkInside(o.configDir, folder);
    for (const p of walked.problems) at(p.relative, p.message);
    for (const f of walked.files) {
      const relative = `${folder}/${f.relative}`;
      if (relative === path.posix.normalize(o.definitionFile)) continue;
      sources.push({ path: `${KIT_DIRS.config}/${relative}`, real: f.real, size: f.size, mode: f.mode });
    }
  }
  if (diagnostics.length)
    throw new InputError(`the config dir has ${diagnostics.length} problem(s):`, diagnostics);
  return sources;
}

/** Each built image with the `.sha256` its build wrote beside it. */
async function imageSources(images: string[]): Promise<Source[]> {
  const sources: Source[] = [];
  const names = new Set<string>();
  for (const image of images) {
    const name = path.basename(image);
    if (!isSafePathComponent(name))
      throw new InputError(`--image ${image}: '${name}' is not a plain file name`);
    if (names.has(name)) throw new InputError(`--image ${image}: another image is named '${name}' too`);
    names.add(name);
    for (const file of [image, `${image}.sha256`]) {
      const info = await stat(file).catch((error: NodeJS.ErrnoException) => error.code ?? 'error');
      if (typeof info === 'string')
        throw new InputError(
          file === image
            ? `--image ${image}: cannot be read (${info})`
            : `--image ${image}: ${file} is missing: images go into a kit with the checksum their build wrote`,
        );
      if (!info.isFile()) throw new InputError(`--image ${image}: ${file} is not a regular file`);
      sources.push({
        path: `${KIT_DIRS.images}/${path.basename(file)}`,
        real: path.resolve(file),
        size: info.size,
        mode: info.mode & 0o777,
      });
    }
  }
  return sources;
}

/** The inventory files, checked as `outpost hosts import` checks them, without their credentials. */
function inventorySources(inventories: string[]): { sources: Source[]; secretsNeeded: SecretNeeded[] } {
  if (inventories.length === 0) return { sources: [], secretsNeeded: [] };
  const loaded = loadCheckedInventoryFiles(inventories);
  const names = new Set<string>();
  const files = inventories.map((file) => {
    const name = `${KIT_DIRS.inventory}/${path.basename(file)}`;
    if (!isSafePathComponent(path.basename(file)) || names.has(name))
      throw new InputError(`--inventory ${file}: each inventory file needs its own plain file name`);
    names.add(name);
    const dir = path.dirname(path.resolve(file));
    // loadCheckedInventoryFiles read these already: reading them again here cannot fail but for a race.
    const text = readTextSync(file);
    return { name, text, readFile: (f: string) => readTextSync(path.resolve(dir, f)) };
  });
  const stripped = stripSecrets(files);
  for (const f of stripped.files) {
    for (const secret of loaded.secrets) {
      // A second line of defence: no credential value may reach the kit.
      if (secret.length >= 4 && f.text.includes(secret))
        throw new OperationError(`a BMC credential would remain in ${f.name}; the kit was not made`);
    }
  }
  return {
    sources: stripped.files.map((f) => ({ path: f.name, text: f.text, mode: 0o644 })),
    secretsNeeded: stripped.secretsNeeded,
  };
}

/** Each image must match the checksum its build wrote (`sha256sum` format) before it travels. */
async function checkImageChecksums(files: KitFile[], sources: Source[]): Promise<void> {
  for (const file of files) {
    if (!file.path.startsWith(`${KIT_DIRS.images}/`) || file.path.endsWith('.sha256')) continue;
    const source = sources.find((s) => s.path === `${file.path}.sha256`);
    if (!source || !('real' in source)) continue;
    const read = await readOperatorFile(source.real, 4096);
    const written =
      read.kind === 'text' ? /^([0-9a-fA-F]{64})\b/.exec(read.text)?.[1]?.toLowerCase() : undefined;
    if (!written) throw new InputError(`${source.real} is not a sha256sum checksum file`);
    if (written !== file.sha256)
      throw new InputError(
        `${source.real.replace(/\.sha256$/, '')} does not match its checksum file ${source.real}: rebuild it or copy it again`,
      );
  }
}

async function packTar(stage: string, temp: string, names: string[]): Promise<void> {
  // Each source is one entry, even when two sources are hard links of one file.
  const noLinks = { get: () => undefined, set: () => noLinks } as unknown as Map<
    `${number}:${number}`,
    string
  >;
  await createTar(
    {
      cwd: stage,
      file: temp,
      zstd: true,
      portable: true,
      follow: true,
      noDirRecurse: true,
      linkCache: noLinks,
      // Read sources 1 MiB at a time (the default reads up to 16 MiB per read, held until compressed).
      maxReadSize: 1 << 20,
    },
    names,
  );
}

async function packZip(stage: string, temp: string, names: string[]): Promise<void> {
  // Info-ZIP follows links by default (no -y), stores Unix modes, and uses zip64 for large files;
  // -nw: a name with `*` or `?` is that file, never a pattern.
  try {
    await execa('zip', ['-q', '-nw', '-X', '-D', '-@', temp], { cwd: stage, input: `${names.join('\n')}\n` });
  } catch (error) {
    throw new OperationError(
      `zip failed: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}`,
    );
  }
}

/** The checksum appears first, then the kit: KIT never exists without KIT.sha256. */
async function publish(
  temp: string,
  output: string,
  checksumFile: string,
  checksumLine: string,
): Promise<void> {
  const tempChecksum = `${temp}.sha256`;
  const handle = await open(tempChecksum, 'w', 0o644);
  try {
    await handle.writeFile(checksumLine);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const kit = await open(temp, 'r');
  try {
    await kit.sync();
  } finally {
    await kit.close();
  }
  await rm(output, { force: true });
  await rename(tempChecksum, checksumFile);
  await rename(temp, output);
  const dir = await open(path.dirname(output), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Temporary files and stages of `kit create` runs that were killed (their process is gone). */
async function reclaimDeadRuns(outDir: string, base: string, onStep?: (line: string) => void): Promise<void> {
  const pattern = new RegExp(`^\\.${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(?:stage|partial)-(\\d+)`);
  for (const name of await readdir(outDir)) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    await rm(path.join(outDir, name), { recursive: true, force: true });
    onStep?.(`reclaimed: removed ${path.join(outDir, name)} (left by dead kit create pid ${pid})`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sha256Of(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function hashFile(
  file: string,
  onBytes?: (n: number) => void,
): Promise<{ sha256: string; size: number }> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new InputError(`${file} is not a regular file`);
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      onBytes?.(size);
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    await handle.close();
  }
}

function readTextSync(file: string): string {
  // Synchronous: the inventory parser's file reader is.
  return readFileSync(file, 'utf8');
}
