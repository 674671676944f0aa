import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { findInside, isInside } from '../../common/contained-fs.ts';
import type { Diagnostic } from '../../common/diagnostics.ts';
import type { ConfigDirCheckContext } from '../config-dir-checks.ts';
import { SECTIONS } from '../section-names.ts';

/** Config-dir folders that hold inputs: the output never goes inside them. */
export const INPUT_FOLDERS = [
  'base-images',
  'custom',
  'network',
  'os-files',
  'certificates',
  'kubernetes',
  'elemental',
  'rpms',
  'artifacts',
  '_build',
];

/**
 * The output may be a new (or previously built) file anywhere under the config dir, in an existing
 * folder: never the definition, never inside an input folder, never a folder, a link or a special file.
 */
export async function checkOutputImage(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const name = ctx.definition.image?.outputImageName;
  if (!name || !isPlainRelativePath(name) || /\.ya?ml$/i.test(name)) return []; // reported by the parser
  const relative = path.posix.normalize(name);
  const problem = (message: string) => [ctx.atField('image.outputImageName', message, SECTIONS.image)];
  const top = relative.split('/')[0]!;
  if (INPUT_FOLDERS.includes(top)) {
    return problem(
      `must not be inside ${top}/, which holds inputs: write it to the config dir or a folder of your own`,
    );
  }
  const absolute = path.join(ctx.configDir, relative);
  if (absolute === ctx.definitionFile || isInside(absolute, ctx.definitionFile)) {
    return problem('is the definition file: the build would overwrite it');
  }
  const parent = path.posix.dirname(relative);
  if (parent !== '.') {
    const folder = await findInside(ctx.configDir, parent);
    if (folder.kind === 'missing')
      return problem(`folder ${ctx.displayPath(parent)}/ does not exist: create it first`);
    if (folder.kind === 'problem') return problem(`folder ${ctx.displayPath(parent)} ${folder.message}`);
    if (folder.kind === 'file') return problem(`${ctx.displayPath(parent)} is a file, not a folder`);
  }
  const existing = await lstat(absolute).catch(() => undefined);
  if (!existing) return [];
  if (existing.isDirectory()) return problem(`${ctx.displayPath(relative)} is an existing folder`);
  if (existing.isSymbolicLink()) {
    const base = ctx.definition.image?.baseImage;
    const [target, baseReal] = await Promise.all([
      realpath(absolute).catch(() => undefined),
      base ? realpath(path.join(ctx.configDir, 'base-images', base)).catch(() => undefined) : undefined,
    ]);
    if (target && target === baseReal) {
      return problem(
        `the output ${ctx.displayPath(relative)} is the base image ${base}: refusing to overwrite it`,
      );
    }
    return problem(`${ctx.displayPath(relative)} is a symbolic link: remove it first`);
  }
  if (!existing.isFile()) return problem(`${ctx.displayPath(relative)} exists and is not a regular file`);
  return [];
}

/** A relative `/`-separated path without `..`, empty parts or a trailing `/`; `./` in front is allowed. */
export function isPlainRelativePath(name: string): boolean {
  if (name.startsWith('/') || name.endsWith('/') || name.includes('\0')) return false;
  const parts = name.replace(/^(\.\/)+/, '').split('/');
  return parts.every((p) => p !== '' && p !== '.' && p !== '..');
}
