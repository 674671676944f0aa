import { findInside, walkInside } from '../../common/contained-fs.ts';
import type { Diagnostic } from '../../common/diagnostics.ts';
import { STEP_NAME } from '../../common/names.ts';
import type { ConfigDirCheckContext } from '../config-dir-checks.ts';
import { notSupported } from '../parse-context.ts';
import { SECTIONS } from '../section-names.ts';

export const CUSTOM_SCRIPTS_DIR = 'custom/scripts';
const BUILD_DIR = '_build';

/**
 * Config-dir components that are used when present; like Edge Image Builder, an empty one is a mistake.
 * Every file below them is read into the image, so each is checked now: links stay inside the config
 * dir, no special files, no loops.
 */
const COMPONENT_DIRECTORIES: readonly { dir: string; section: string }[] = [
  { dir: CUSTOM_SCRIPTS_DIR, section: SECTIONS.custom },
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
      const walked = await walkInside(ctx.configDir, dir);
      if (walked.missing) return [];
      const found = walked.problems.map((p) => ctx.atFile(p.relative, p.message, section));
      if (walked.files.length === 0 && found.length === 0) {
        return [ctx.atFile(dir, 'is an empty directory: add files or remove it', section)];
      }
      if (dir === CUSTOM_SCRIPTS_DIR) {
        for (const file of walked.files) {
          if (!STEP_NAME.test(file.relative)) {
            found.push(
              ctx.atFile(
                `${dir}/${file.relative}`,
                "a script name may use only letters, digits, '.', '_' and '-' (no folders), starting with a letter or digit",
                section,
              ),
            );
          }
        }
      }
      return found;
    }),
  );
  return results.flat();
}

export async function checkUnsupportedDirectories(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const results = await Promise.all(
    UNSUPPORTED_DIRECTORIES.map(async ({ dir, need }) => {
      const found = await findInside(ctx.configDir, dir);
      return found.kind === 'missing' ? [] : [ctx.atFile(dir, notSupported(need), SECTIONS.configDir)];
    }),
  );
  return [...results.flat(), ...(await checkBuildDirectory(ctx))];
}

/** The build writes its log and the rendered bundle to `_build/`: it must be a real folder inside. */
async function checkBuildDirectory(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const found = await findInside(ctx.configDir, BUILD_DIR);
  if (found.kind === 'problem') return [ctx.atFile(BUILD_DIR, found.message, SECTIONS.configDir)];
  if (found.kind === 'file')
    return [ctx.atFile(BUILD_DIR, 'must be a directory (builds write their logs there)', SECTIONS.configDir)];
  return [];
}
