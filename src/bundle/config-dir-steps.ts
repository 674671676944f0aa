import path from 'node:path';
import { InputError } from '../common/diagnostics.ts';
import { STEP_NAME } from '../common/names.ts';
import { renderTemplate } from '../common/templates.ts';
import { readConfigFiles } from './config-files.ts';
import type { BundleContext } from './context.ts';
import { OS_STEP_NAMES } from './os-settings.ts';
import type { BundleContribution, BundleFile } from './types.ts';

/** `certificates/*.pem|*.crt` in the config dir: trusted system-wide at first boot. */
export async function certificatesContribution(ctx: BundleContext): Promise<BundleContribution> {
  const dir = path.join(ctx.configDir, 'certificates');
  const certs = (await readConfigFiles(ctx.configDir, 'certificates')).filter(
    (f) => !f.relativePath.includes('/') && /\.(pem|crt)$/.test(f.relativePath),
  );
  if (certs.length === 0) return { files: [], scripts: [], artefacts: [] };
  for (const c of certs) requirePlainName(c.relativePath, dir);
  return {
    files: certs.map((c) => ({ path: `certificates/${c.relativePath}`, content: c.content, mode: 0o644 })),
    scripts: [
      {
        name: OS_STEP_NAMES.certificates,
        content: renderTemplate('firstboot/ca-certificates.sh.hbs', {
          names: certs.map((c) => c.relativePath),
        }),
      },
    ],
    artefacts: [],
  };
}

/** `os-files/` in the config dir: copied verbatim into `/`, keeping permission bits. */
export async function osFilesContribution(ctx: BundleContext): Promise<BundleContribution> {
  const files = await readConfigFiles(ctx.configDir, 'os-files');
  if (files.length === 0) return { files: [], scripts: [], artefacts: [] };
  return {
    files: files.map((f) => ({ path: `os-files/${f.relativePath}`, content: f.content, mode: f.mode })),
    scripts: [
      {
        name: OS_STEP_NAMES.osFiles,
        content: renderTemplate('firstboot/os-files.sh.hbs', { count: files.length }),
      },
    ],
    artefacts: [],
  };
}

/**
 * `custom/scripts` run after outpost's own steps (their names sort them; use 50-99), `custom/files` sit
 * next to them in the bundle, as in EIB, and are found through `$OUTPOST_FILES`.
 */
export async function customContribution(ctx: BundleContext): Promise<BundleContribution> {
  const scriptsDir = path.join(ctx.configDir, 'custom', 'scripts');
  const scripts = await readConfigFiles(ctx.configDir, 'custom/scripts');
  for (const s of scripts) requirePlainName(s.relativePath, scriptsDir);
  const files: BundleFile[] = (await readConfigFiles(ctx.configDir, 'custom/files')).map((f) => ({
    path: f.relativePath,
    content: f.content,
    mode: f.mode,
  }));
  return {
    files,
    scripts: scripts.map((s) => ({ name: s.relativePath, content: s.content.toString('utf8') })),
    artefacts: [],
  };
}

export function growfsContribution(): BundleContribution {
  return {
    files: [],
    scripts: [{ name: OS_STEP_NAMES.growfs, content: renderTemplate('firstboot/growfs.sh.hbs', {}) }],
    artefacts: [],
  };
}

function requirePlainName(name: string, dir: string): void {
  if (!STEP_NAME.test(name)) {
    throw new InputError(
      `${path.join(dir, name)}: file names here may use only letters, digits, ".", "_" and "-" (and no folders)`,
    );
  }
}
