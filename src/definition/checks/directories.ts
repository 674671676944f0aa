import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Diagnostic } from '../../common/diagnostics.ts';
import type { ConfigDirCheckContext } from '../config-dir-checks.ts';
import { notSupported } from '../parse-context.ts';
import { SECTIONS } from '../section-names.ts';

/** Config-dir components that are used when present; like Edge Image Builder, an empty one is a mistake. */
const COMPONENT_DIRECTORIES: readonly { dir: string; section: string }[] = [
  { dir: 'custom/scripts', section: SECTIONS.custom },
  { dir: 'custom/files', section: SECTIONS.custom },
  { dir: 'os-files', section: SECTIONS.configDir },
  { dir: 'certificates', section: SECTIONS.configDir },
  { dir: 'kubernetes/manifests', section: SECTIONS.kubernetes },
  { dir: 'kubernetes/helm/values', section: SECTIONS.kubernetes },
  { dir: 'kubernetes/helm/certs', section: SECTIONS.kubernetes },
];

/** Config-dir components Edge Image Builder acts on and outpost does not yet. */
const UNSUPPORTED_DIRECTORIES: readonly { dir: string; need: string }[] = [
  { dir: 'elemental', need: 'needs Elemental registration against a Rancher Elemental operator' },
  { dir: 'rpms', need: 'needs RPM dependency resolution; install packages from custom/scripts instead' },
];

export async function checkComponentDirectories(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const results = await Promise.all(
    COMPONENT_DIRECTORIES.map(async ({ dir, section }) => {
      const entries = await listDirectory(path.join(ctx.configDir, dir));
      if (entries === 'missing') return [];
      if (entries === 'not a directory') return [ctx.atFile(dir, 'must be a directory', section)];
      if (entries.length === 0) {
        return [ctx.atFile(dir, 'is an empty directory: add files or remove it', section)];
      }
      return [];
    }),
  );
  return results.flat();
}

export async function checkUnsupportedDirectories(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const results = await Promise.all(
    UNSUPPORTED_DIRECTORIES.map(async ({ dir, need }) => {
      const exists = await stat(path.join(ctx.configDir, dir)).then(
        () => true,
        () => false,
      );
      return exists ? [ctx.atFile(dir, notSupported(need), SECTIONS.configDir)] : [];
    }),
  );
  return results.flat();
}

/** Entry names, 'missing' when absent, or 'not a directory'. */
export async function listDirectory(dir: string): Promise<string[] | 'missing' | 'not a directory'> {
  try {
    return await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') return 'not a directory';
    throw error;
  }
}
