import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { walkInside } from '../common/contained-fs.ts';
import { type Diagnostic, InputError } from '../common/diagnostics.ts';

/** A regular file found under a config-dir folder, with its path relative to that folder. */
export interface ConfigFile {
  relativePath: string;
  absolutePath: string;
  content: Buffer;
  mode: number;
}

/**
 * Reads every regular file below `configDir/folder` (recursively, sorted by path). A missing folder is
 * empty. Links are followed only while they stay inside the config dir; special files, loops and links
 * leading out are refused (validation reported them already, with their paths).
 */
export async function readConfigFiles(configDir: string, folder: string): Promise<ConfigFile[]> {
  const walked = await walkInside(configDir, folder);
  if (walked.problems.length) {
    const diagnostics: Diagnostic[] = walked.problems.map((p) => ({
      file: path.join(configDir, p.relative),
      line: 1,
      col: 1,
      path: '',
      message: p.message,
      section: 'Config directory',
    }));
    throw new InputError(`${path.join(configDir, folder)}: cannot be read into the image`, diagnostics);
  }
  const found: ConfigFile[] = [];
  for (const file of walked.files) {
    found.push({
      relativePath: file.relative,
      absolutePath: file.real,
      content: await readFile(file.real),
      mode: file.mode,
    });
  }
  return found;
}
