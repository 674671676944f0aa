import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../common/diagnostics.ts';

/** A regular file found under a config-dir folder, with its path relative to that folder. */
export interface ConfigFile {
  relativePath: string;
  absolutePath: string;
  content: Buffer;
  mode: number;
}

/**
 * Reads every regular file below `dir` (recursively, sorted by path). A missing folder is empty.
 * Symlinks and special files are refused: the bundle carries plain files with their permission bits.
 */
export async function readConfigFiles(dir: string): Promise<ConfigFile[]> {
  const found: ConfigFile[] = [];
  async function walk(current: string): Promise<void> {
    let entries: string[];
    try {
      entries = (await readdir(current)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of entries) {
      const absolutePath = path.join(current, name);
      const info = await lstat(absolutePath);
      if (info.isDirectory()) {
        await walk(absolutePath);
      } else if (info.isFile()) {
        found.push({
          relativePath: path.relative(dir, absolutePath),
          absolutePath,
          content: await readFile(absolutePath),
          mode: info.mode & 0o7777,
        });
      } else {
        throw new InputError(`${absolutePath}: only regular files and folders are supported here`);
      }
    }
  }
  await walk(dir);
  return found;
}
