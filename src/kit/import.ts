/**
 * `outpost kit import`: a kit reaches a running management service. In order, and stopping at the first
 * refusal so nothing is imported by halves:
 *   1. the manifest is read and the secrets file checked: every credential the kit needs must be there;
 *   2. the kit is verified and unpacked under `<state-dir>/kits/<manifest digest>` (resumable), or, given
 *      a folder, the folder is verified in place;
 *   3. the inventory is put together with its credentials and checked as `outpost hosts import` does;
 *   4. the images (with their `.sha256`) are placed in the media dir, so `hosts provision --image NAME`
 *      finds them;
 *   5. the hosts are imported.
 * Running it again with the same kit is harmless: what is in place already is kept.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { joinInside, readOperatorFile, readRegularFile } from '../common/contained-fs.ts';
import { InputError } from '../common/diagnostics.ts';
import { isSafePathComponent } from '../common/names.ts';
import { HOST_MEDIA_DIR } from '../service/host-media.ts';
import { parseInventory } from '../service/inventory.ts';
import type { InventoryHost } from '../service/types.ts';
import {
  type Credentials,
  describeNeeded,
  type InventoryText,
  readSecretsFile,
  restoreSecrets,
} from './inventory-secrets.ts';
import { KIT_DIRS, type KitManifest, type SecretNeeded } from './manifest.ts';
import { scanKit } from './scan.ts';
import { scanTree } from './tree.ts';
import { refusal, unpackKit } from './unpack.ts';

export interface ImportKitOptions {
  /** A kit archive, or a folder a kit was unpacked into. */
  kit: string;
  secretsFile?: string;
  stateDir: string;
  mediaDir: string;
  /** Sends the hosts to the service (`POST /api/v1/hosts`). */
  importHosts: (
    hosts: InventoryHost[],
  ) => Promise<{ created: string[]; updated: string[]; unchanged: string[] }>;
  onStep?: (line: string) => void;
  onProgress?: (step: string, done: number, total: number) => void;
}

export interface ImportedKit {
  kitDir: string;
  images: { name: string; path: string; placed: boolean }[];
  hosts: { created: string[]; updated: string[]; unchanged: string[] };
}

export async function importKit(o: ImportKitOptions): Promise<ImportedKit> {
  const isFolder = (await stat(o.kit).catch(() => undefined))?.isDirectory() === true;
  const progress = (step: string) => o.onProgress && ((d: number, t: number) => o.onProgress!(step, d, t));

  // 1. The manifest and the secrets, before anything is written.
  let manifest: KitManifest;
  let kitDir: string;
  if (isFolder) {
    o.onStep?.(`verifying ${o.kit}`);
    const checked = await scanTree(o.kit, { ...(progress('verify') && { onProgress: progress('verify')! }) });
    if (checked.problems.length || !checked.manifest) throw refusal(o.kit, checked.problems);
    manifest = checked.manifest;
    kitDir = path.resolve(o.kit);
  } else {
    const head = await scanKit(o.kit, { manifestOnly: true, stopAtFirst: true });
    if (!head.manifest || !head.manifestText) throw refusal(o.kit, head.problems);
    manifest = head.manifest;
    const id = createHash('sha256').update(head.manifestText).digest('hex').slice(0, 16);
    kitDir = path.join(o.stateDir, 'kits', id);
  }
  const secrets = await loadSecrets(o.secretsFile);
  const { missing } = restoreSecrets([], manifest.secretsNeeded, secrets);
  if (missing.length) throw missingSecrets(missing, o.secretsFile);
  const images = manifest.images.map((p) => ({ name: path.posix.basename(p), kitPath: p }));
  for (const image of images) {
    // The name becomes a file of the media dir: a plain visible name, not the per-host ISO folder.
    const listed = new Set(manifest.files.map((f) => f.path));
    if (
      !image.kitPath.startsWith(`${KIT_DIRS.images}/`) ||
      !isSafePathComponent(image.name) ||
      image.name === HOST_MEDIA_DIR ||
      !listed.has(`${image.kitPath}.sha256`)
    )
      throw new InputError(
        `refusing ${o.kit}: image '${image.kitPath}' must be images/NAME (a plain name) with its .sha256 in the kit`,
      );
  }
  await checkMediaDir(o.mediaDir, images, kitDir, isFolder, manifest);

  // 2. Verify and unpack.
  if (!isFolder) {
    await mkdir(path.dirname(kitDir), { recursive: true, mode: 0o700 });
    o.onStep?.(`verifying and unpacking ${o.kit} into ${kitDir}`);
    const unpacked = await unpackKit(o.kit, kitDir, {
      ...(progress('unpack') && { onProgress: progress('unpack')! }),
    });
    if (unpacked.alreadyUnpacked) o.onStep?.(`already unpacked in ${kitDir}`);
    else if (unpacked.kept) o.onStep?.(`resumed: ${unpacked.kept} file(s) kept from an interrupted run`);
  }

  // 3. The inventory with its credentials, checked before anything reaches the media dir or the service.
  const texts: InventoryText[] = [];
  for (const name of manifest.inventory) {
    const read = await readRegularFile(joinInside(kitDir, name)!);
    if (read.kind !== 'text')
      throw new InputError(`${kitDir}/${name}: ${read.kind === 'problem' ? read.message : 'missing'}`);
    texts.push({ name, text: read.text });
  }
  const { inputs } = restoreSecrets(texts, manifest.secretsNeeded, secrets);
  const inventory = parseInventory(inputs, { env: process.env });
  if (inventory.diagnostics.length)
    throw new InputError(
      `the kit's inventory has ${inventory.diagnostics.length} problem(s):`,
      inventory.diagnostics,
    );

  // 4. Images into the media dir.
  const placed: ImportedKit['images'] = [];
  for (const image of images) {
    const target = path.join(o.mediaDir, image.name);
    const source = joinInside(kitDir, image.kitPath)!;
    if (await sameChecksumFile(`${source}.sha256`, `${target}.sha256`)) {
      placed.push({ name: image.name, path: target, placed: false });
      continue;
    }
    o.onStep?.(`placing ${image.name} in ${o.mediaDir}`);
    await place(`${source}.sha256`, `${target}.sha256`);
    await place(source, target);
    placed.push({ name: image.name, path: target, placed: true });
  }

  // 5. The hosts.
  const hosts = inventory.hosts.length
    ? await o.importHosts(inventory.hosts)
    : { created: [], updated: [], unchanged: [] };
  return { kitDir, images: placed, hosts };
}

async function loadSecrets(file: string | undefined) {
  const empty = {
    file: file ?? '',
    bySecret: new Map<string, Credentials>(),
    byHost: new Map<string, Credentials>(),
  };
  if (!file) return empty;
  const read = await readOperatorFile(file);
  if (read.kind !== 'text')
    throw new InputError(`--secrets ${file}: ${read.kind === 'missing' ? 'does not exist' : read.message}`);
  const dir = path.dirname(path.resolve(file));
  const { readFileSync } = await import('node:fs');
  const parsed = readSecretsFile(file, read.text, (f) => readFileSync(path.resolve(dir, f), 'utf8'));
  if (parsed.diagnostics.length)
    throw new InputError(`the secrets file has ${parsed.diagnostics.length} problem(s):`, parsed.diagnostics);
  return { file, bySecret: parsed.bySecret, byHost: parsed.byHost };
}

function missingSecrets(missing: SecretNeeded[], file: string | undefined): InputError {
  const lines = missing.map((m) => `  ${describeNeeded(m)}`);
  return new InputError(
    [
      file
        ? `${file} lacks ${missing.length} credential(s) the kit's inventory needs; nothing was imported:`
        : `the kit's inventory needs ${missing.length} credential(s): give them with --secrets FILE (Metal3 Secrets, or a \`credentials:\` list); nothing was imported:`,
      ...lines,
    ].join('\n'),
  );
}

/** An image of the same name but other content in the media dir is not replaced behind anyone's back. */
async function checkMediaDir(
  mediaDir: string,
  images: { name: string; kitPath: string }[],
  kitDir: string,
  isFolder: boolean,
  manifest: KitManifest,
): Promise<void> {
  if (!(await stat(mediaDir).catch(() => undefined))?.isDirectory())
    throw new InputError(`the media dir ${mediaDir} does not exist: give the service's --media-dir`);
  for (const image of images) {
    const target = path.join(mediaDir, image.name);
    if (!(await lstat(target).catch(() => undefined))) continue;
    const want = manifest.files.find((f) => f.path === image.kitPath)!.sha256;
    const have = await readFile(`${target}.sha256`, 'utf8').catch(() => '');
    if (!have.startsWith(want)) {
      throw new InputError(
        `the media dir already has another ${image.name} (its .sha256 ${have ? 'differs' : 'is missing'}): remove or rename it, then import again${isFolder ? '' : ` (${kitDir})`}`,
      );
    }
  }
}

async function sameChecksumFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([
    readFile(a, 'utf8').catch(() => undefined),
    readFile(b, 'utf8').catch(() => undefined),
  ]);
  return x !== undefined && x === y;
}

/**
 * A file appears in the media dir whole: a hard link when the kit is on the same filesystem (no copy),
 * else a copy, under a hidden temporary name (never served), then renamed.
 */
async function place(source: string, target: string): Promise<void> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.kit-import-${process.pid}`);
  await rm(temp, { force: true });
  try {
    await link(source, temp);
  } catch {
    await copyFile(source, temp, constants.COPYFILE_FICLONE);
  }
  const handle = await open(temp, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, target);
  const dir = await open(path.dirname(target), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
