/**
 * `outpost kit unpack`: a kit becomes a folder that appears complete or not at all. Files are written
 * under a hidden sibling folder (`.DIR.kit-partial`) and moved there only once their content matched
 * the manifest; the folder is renamed to DIR at the end. A run that was killed leaves the partial folder:
 * the next run with the same kit keeps the files already verified and writes only the rest. Any refusal
 * (see scan.ts) removes the partial folder: nothing of a hostile kit stays behind.
 */
import { lstat, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { stopPoint } from '../build/test-stop.ts';
import { joinInside } from '../common/contained-fs.ts';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { type KitFile, type KitManifest, MANIFEST_NAME, parseMode } from './manifest.ts';
import { type EntrySink, type KitProblem, type ScanResult, scanKit } from './scan.ts';

export interface UnpackResult {
  into: string;
  manifest: KitManifest;
  files: number;
  bytes: number;
  /** Files kept from an interrupted earlier run. */
  kept: number;
  /** The folder was already this kit's, complete: nothing was written. */
  alreadyUnpacked: boolean;
}

export function partialDirOf(into: string): { partial: string; temp: string } {
  const parent = path.dirname(into);
  const base = path.basename(into);
  return { partial: path.join(parent, `.${base}.kit-partial`), temp: path.join(parent, `.${base}.kit-tmp`) };
}

export async function unpackKit(
  kit: string,
  into: string,
  o: { onProgress?: (done: number, total: number) => void } = {},
): Promise<UnpackResult> {
  const target = path.resolve(into);
  const { partial, temp } = partialDirOf(target);
  if (await exists(target)) {
    const { manifest, manifestText, problems } = await scanKit(kit, {
      manifestOnly: true,
      stopAtFirst: true,
    });
    if (!manifest) throw refusal(kit, problems);
    const present = await readFile(path.join(target, MANIFEST_NAME), 'utf8').catch(() => undefined);
    if (present !== manifestText) {
      throw new InputError(
        `${into} already exists and is not this kit unpacked: give a new folder to --into`,
      );
    }
    return { into: target, manifest, files: manifest.files.length, bytes: 0, kept: 0, alreadyUnpacked: true };
  }
  await mkdir(path.dirname(target), { recursive: true });
  let kept = 0;
  let written = 0;
  const sink: EntrySink = {
    async manifest(_manifest, text) {
      // Only a real folder of this user is resumed: never one reached through a link, never another's.
      const found = await lstat(partial).catch(() => undefined);
      const ours = found?.isDirectory() === true && found.uid === process.getuid?.();
      const earlier = ours
        ? await readFile(path.join(partial, MANIFEST_NAME), 'utf8').catch(() => undefined)
        : undefined;
      if (earlier !== text) {
        // Another kit's (or no) earlier run: start over.
        await rm(partial, { recursive: true, force: true });
        await mkdir(partial, { mode: 0o755 });
        await writeDurably(path.join(partial, MANIFEST_NAME), text, 0o644);
      }
      await rm(temp, { recursive: true, force: true });
      await mkdir(temp, { mode: 0o700 });
    },
    async open(file: KitFile) {
      const dest = joinInside(partial, file.path);
      if (!dest) throw new Error(`unreachable: ${file.path} was checked`);
      const found = await lstat(dest).catch(() => undefined);
      // Files reach their place only after their content matched: one there with the right size is done.
      if (found?.isFile() && found.size === file.size) {
        kept++;
        return 'skip';
      }
      if (found) await rm(dest, { recursive: true, force: true });
      await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
      const tmp = path.join(temp, `${process.pid}-${kept}-${Math.random().toString(36).slice(2)}`);
      const handle = await open(tmp, 'wx', 0o600);
      let position = 0;
      return {
        write: async (chunk) => {
          // Runs of zeros stay holes: a disk image unpacks as sparse as it was built.
          if (!isZeros(chunk)) await handle.write(chunk, 0, chunk.length, position);
          position += chunk.length;
        },
        commit: async () => {
          await handle.truncate(position);
          await handle.chmod(parseMode(file.mode));
          await handle.sync();
          await handle.close();
          await rename(tmp, dest);
          // Crash-safety tests kill the unpack here (OUTPOST_TEST_STOP_AT=unpack:written-N).
          stopPoint(`unpack:written-${++written}`);
        },
        discard: async () => {
          await handle.close().catch(() => {});
          await rm(tmp, { force: true });
        },
      };
    },
  };
  let result: ScanResult;
  try {
    result = await scanKit(kit, {
      sink,
      stopAtFirst: true,
      ...(o.onProgress && { onProgress: o.onProgress }),
    });
  } catch (error) {
    throw new OperationError(`unpacking ${kit} into ${into} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (result.problems.length || !result.manifest) {
    await rm(partial, { recursive: true, force: true });
    await rm(temp, { recursive: true, force: true });
    throw refusal(kit, result.problems);
  }
  await syncFolder(partial);
  await rename(partial, target);
  await syncFolder(path.dirname(target));
  await rm(temp, { recursive: true, force: true });
  return {
    into: target,
    manifest: result.manifest,
    files: result.files,
    bytes: result.bytes,
    kept,
    alreadyUnpacked: false,
  };
}

/** The refusal of a kit, naming the entry: exit 2. */
export function refusal(kit: string, problems: KitProblem[]): InputError {
  const lines = problems.map((p) => (p.path ? `  ${p.path}: ${p.message}` : `  ${p.message}`));
  return new InputError(`refusing ${kit}: it is not a sound site kit:\n${lines.join('\n')}`);
}

async function writeDurably(file: string, text: string, mode: number): Promise<void> {
  const handle = await open(file, 'wx', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const ZEROS = Buffer.alloc(1 << 20);
function isZeros(chunk: Buffer): boolean {
  for (let at = 0; at < chunk.length; at += ZEROS.length) {
    const part = chunk.subarray(at, at + ZEROS.length);
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

async function exists(file: string): Promise<boolean> {
  return (await lstat(file).catch(() => undefined)) !== undefined;
}
