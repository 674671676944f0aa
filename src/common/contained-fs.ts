/**
 * Reading a folder we do not control (a config directory, a config drive) without leaving it: every
 * path is resolved through its symbolic links and must stay inside the folder's real path; FIFOs,
 * sockets and devices are refused before anything opens them (opening a FIFO blocks forever); sizes
 * and folder depth are bounded. Every failure is a sentence for a diagnostic, never an exception.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/** Largest text file read from a config dir (definitions, host files, manifests, values files). */
export const MAX_TEXT_BYTES = 16 * 2 ** 20;
/** Deepest folder nesting walked below a config-dir folder (os-files, custom/files). */
export const MAX_WALK_DEPTH = 32;
/** Most entries walked below one config-dir folder. */
export const MAX_WALK_ENTRIES = 100_000;

export type Found =
  | { kind: 'missing' }
  | { kind: 'problem'; message: string }
  | { kind: 'file'; real: string; size: number; mode: number }
  | { kind: 'directory'; real: string };

/** True when `candidate` is `root` or below it (both absolute and normalised). */
export function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return (
    relative === '' ||
    (!relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative))
  );
}

/**
 * `root/relative`, or undefined when the joined path would leave `root` (`..`, an absolute part).
 * The one place a name from input is joined to a folder.
 */
export function joinInside(root: string, ...parts: string[]): string | undefined {
  if (parts.some((p) => p.includes('\0'))) return undefined;
  const joined = path.resolve(root, ...parts);
  return isInside(path.resolve(root), joined) ? joined : undefined;
}

const realRoots = new Map<string, Promise<string>>();
function realRoot(root: string): Promise<string> {
  const absolute = path.resolve(root);
  let real = realRoots.get(absolute);
  if (!real) {
    real = realpath(absolute).catch(() => absolute);
    realRoots.set(absolute, real);
    if (realRoots.size > 64) realRoots.delete(realRoots.keys().next().value!);
  }
  return real;
}

function describeCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'is a symbolic link loop';
    case 'ENAMETOOLONG':
      return 'path is too long';
    case 'ENOTDIR':
      return 'a folder on its path is a file';
    case 'EISDIR':
      return 'is a folder';
    default:
      return `cannot be read (${code ?? (error as Error).message})`;
  }
}

/**
 * What `root/relative` is, after following links that stay inside `root`. With `linksAnywhere` a link
 * may point outside (used only for base images, which are copied, never executed or published).
 */
export async function findInside(
  root: string,
  relative: string,
  opts: { linksAnywhere?: boolean } = {},
): Promise<Found> {
  const absolute = joinInside(root, relative);
  if (!absolute) return { kind: 'problem', message: 'is outside the config directory' };
  try {
    await lstat(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'problem', message: describeCode(error) };
  }
  // Resolves links in the name and in every parent folder.
  let real: string;
  try {
    real = await realpath(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'problem', message: 'is a symbolic link to nothing (dangling)' };
    return { kind: 'problem', message: describeCode(error) };
  }
  if (!opts.linksAnywhere && !isInside(await realRoot(root), real)) {
    return { kind: 'problem', message: 'is a symbolic link that leads outside the config directory' };
  }
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(real);
  } catch (error) {
    return { kind: 'problem', message: describeCode(error) };
  }
  if (info.isFile()) return { kind: 'file', real, size: info.size, mode: info.mode & 0o7777 };
  if (info.isDirectory()) return { kind: 'directory', real };
  return { kind: 'problem', message: `is ${specialKind(info)}: only regular files and folders are read` };
}

function specialKind(info: { isFIFO(): boolean; isSocket(): boolean; isBlockDevice(): boolean }): string {
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isBlockDevice()) return 'a block device';
  return 'a character device';
}

export type ReadResult =
  | { kind: 'missing' }
  | { kind: 'problem'; message: string }
  | { kind: 'text'; text: string };

/** A regular file's text, never through a FIFO or device, never above `maxBytes`, never outside `root`. */
export async function readTextInside(
  root: string,
  relative: string,
  maxBytes = MAX_TEXT_BYTES,
): Promise<ReadResult> {
  const found = await findInside(root, relative);
  if (found.kind === 'missing' || found.kind === 'problem') return found;
  if (found.kind === 'directory') return { kind: 'problem', message: 'is a folder, not a file' };
  return readRegularFile(found.real, maxBytes);
}

/** Opens without following a final link and without blocking, then checks again what was opened. */
export async function readRegularFile(file: string, maxBytes = MAX_TEXT_BYTES): Promise<ReadResult> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) {
      return {
        kind: 'problem',
        message: info.isDirectory()
          ? 'is a folder, not a file'
          : `is ${specialKind(info)}, not a regular file`,
      };
    }
    if (info.size > maxBytes) {
      return { kind: 'problem', message: `is too large (${info.size} bytes; at most ${maxBytes})` };
    }
    const bytes = await handle.readFile();
    if (bytes.length > maxBytes)
      return { kind: 'problem', message: `is too large (more than ${maxBytes} bytes)` };
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
    try {
      return { kind: 'text', text: text.decode(bytes) };
    } catch {
      return { kind: 'problem', message: 'is not UTF-8 text' };
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    // O_NOFOLLOW on a link: ELOOP. The caller resolved links already, so this is a race or a loop.
    return { kind: 'problem', message: describeCode(error) };
  } finally {
    await handle?.close();
  }
}

/**
 * A regular file at an absolute path given by the operator (the definition file): refused before it is
 * opened when it is a FIFO, a device or a folder.
 */
export async function readOperatorFile(file: string, maxBytes = MAX_TEXT_BYTES): Promise<ReadResult> {
  try {
    const info = await stat(file);
    if (info.isDirectory()) return { kind: 'problem', message: 'is a folder, not a file' };
    if (!info.isFile()) return { kind: 'problem', message: `is ${specialKind(info)}, not a regular file` };
    return await readRegularFile(await realpath(file), maxBytes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'problem', message: describeCode(error) };
  }
}

export type ListResult =
  | { kind: 'missing' }
  | { kind: 'problem'; message: string }
  | { kind: 'not a directory' }
  | { kind: 'entries'; names: string[] };

/** The sorted entry names of a folder inside `root`. */
export async function listInside(root: string, relative: string): Promise<ListResult> {
  const found = await findInside(root, relative);
  if (found.kind === 'missing' || found.kind === 'problem') return found;
  if (found.kind === 'file') return { kind: 'not a directory' };
  try {
    return { kind: 'entries', names: (await readdir(found.real)).sort() };
  } catch (error) {
    return { kind: 'problem', message: describeCode(error) };
  }
}

export interface WalkedFile {
  /** Relative to the walked folder, `/`-separated. */
  relative: string;
  real: string;
  size: number;
  mode: number;
}

/**
 * Every regular file below `root/relative`, sorted by path. Links are followed only inside `root`;
 * special files, loops, too deep trees and too many entries are problems (path relative to `root`).
 */
export async function walkInside(
  root: string,
  relative: string,
): Promise<{ files: WalkedFile[]; problems: { relative: string; message: string }[]; missing: boolean }> {
  const files: WalkedFile[] = [];
  const problems: { relative: string; message: string }[] = [];
  const top = await findInside(root, relative);
  if (top.kind === 'missing') return { files, problems, missing: true };
  if (top.kind === 'problem')
    return { files, problems: [{ relative, message: top.message }], missing: false };
  if (top.kind === 'file')
    return { files, problems: [{ relative, message: 'must be a directory' }], missing: false };
  const visited = new Set<string>([top.real]);
  let entries = 0;
  const walk = async (folder: string, depth: number): Promise<void> => {
    const listed = await listInside(root, folder);
    if (listed.kind !== 'entries') {
      problems.push({
        relative: folder,
        message: listed.kind === 'problem' ? listed.message : 'cannot be listed',
      });
      return;
    }
    for (const name of listed.names) {
      const child = `${folder}/${name}`;
      if (++entries > MAX_WALK_ENTRIES) {
        problems.push({ relative, message: `holds more than ${MAX_WALK_ENTRIES} entries` });
        return;
      }
      const found = await findInside(root, child);
      if (found.kind === 'missing') continue; // removed while walking
      if (found.kind === 'problem') problems.push({ relative: child, message: found.message });
      else if (found.kind === 'file') {
        files.push({
          relative: child.slice(relative.length + 1),
          real: found.real,
          size: found.size,
          mode: found.mode,
        });
      } else if (visited.has(found.real)) {
        problems.push({ relative: child, message: 'is a link to a folder already read (a loop)' });
      } else if (depth >= MAX_WALK_DEPTH) {
        problems.push({ relative: child, message: `is nested more than ${MAX_WALK_DEPTH} folders deep` });
      } else {
        visited.add(found.real);
        await walk(child, depth + 1);
      }
    }
  };
  await walk(relative, 1);
  return { files, problems, missing: false };
}
