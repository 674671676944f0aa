import { InputError } from '../common/diagnostics.ts';
import { readTemplate, renderTemplate } from '../common/templates.ts';
import type { LoadedDefinition } from '../definition/types.ts';
import { type Bundle, FIRSTBOOT_UNIT_NAME, type FirstBootEngine } from './bundle.ts';
import type { BundleContext, BundleContributor } from './context.ts';
import { bundleDigest } from './digest.ts';
import { ignitionConfig } from './ignition.ts';
import { holdsSecrets } from './os-settings.ts';
import type { BundleArtefact, BundleContribution, BundleFile } from './types.ts';
import { validateForBundle } from './validate.ts';

export const RUNNER_NAME = 'script';
/** RAW images only: run by the runner after everything else succeeded. */
export const CLEANUP_NAME = '99-cleanup-combustion.sh';
const NETWORK_BAND = /^0[0-9]/;

export interface AssembleOptions {
  engine: FirstBootEngine;
  env?: Readonly<Record<string, string | undefined>>;
  /** Content the build's caller adds after every domain's (see BuildOptions.contributions). */
  extra?: readonly BundleContribution[];
}

/**
 * Builds the first-boot bundle for a loaded definition: reads the config dir, renders every step of every
 * contributor. The contributors come from the caller because the domains that contribute (network,
 * kubernetes) sit above the bundle: src/build/assemble-bundle.ts lists them all.
 */
export async function assembleBundleWith(
  loaded: LoadedDefinition,
  opts: AssembleOptions,
  contributors: readonly BundleContributor[],
): Promise<Bundle> {
  const definition = loaded.definition;
  const problems = validateForBundle(definition);
  if (problems.length > 0) {
    throw new InputError(problems.map((p) => `${loaded.file}: ${p.path}: ${p.message}`).join('\n'));
  }
  const ctx: BundleContext = {
    loaded,
    definition,
    configDir: loaded.configDir,
    engine: opts.engine,
    env: opts.env,
  };
  const contributions: BundleContribution[] = [];
  for (const contribute of contributors) contributions.push(await contribute(ctx));
  contributions.push(...(opts.extra ?? []));
  return bundleFromContributions(loaded, opts.engine, contributions);
}

/** The pure part: contributions in, bundle out. */
export function bundleFromContributions(
  loaded: LoadedDefinition,
  engine: FirstBootEngine,
  contributions: readonly BundleContribution[],
): Bundle {
  const os = loaded.definition.operatingSystem;
  const files: BundleFile[] = [];
  const artefacts: BundleArtefact[] = [];
  const stepNames: string[] = [];
  for (const c of contributions) {
    files.push(...c.files.map((f) => ({ ...f })));
    artefacts.push(...c.artefacts);
    for (const s of c.scripts) {
      stepNames.push(s.name);
      files.push({
        path: s.name,
        content: s.content,
        mode: 0o755,
        secret: holdsSecrets(s.name, os) || undefined,
      });
    }
  }
  files.push(...completionReporterFiles());
  const isRaw = loaded.definition.image.imageType === 'raw';
  if (isRaw) {
    files.push({ path: CLEANUP_NAME, content: renderTemplate('firstboot/cleanup.sh.hbs', {}), mode: 0o755 });
  }
  requireUniquePaths(files, artefacts);
  flagSecrets(files, loaded.secrets);

  const steps = stepNames.sort(byCodePoint);
  const digest = bundleDigest(files);
  const runner = renderTemplate('firstboot/script.sh.hbs', {
    digest,
    engine,
    steps,
    networkSteps: steps.filter((s) => NETWORK_BAND.test(s)),
    lastStep: isRaw ? CLEANUP_NAME : '',
  });
  const allFiles: BundleFile[] = [{ path: RUNNER_NAME, content: runner, mode: 0o755 }, ...files];
  allFiles.sort((a, b) => byCodePoint(a.path, b.path));
  const firstbootUnit: Bundle['firstbootUnit'] = {
    name: FIRSTBOOT_UNIT_NAME,
    content: renderTemplate('firstboot/outpost-firstboot.service.hbs', {}),
  };
  return {
    files: allFiles,
    artefacts,
    ignitionConfig: ignitionConfig(loaded.definition, allFiles, firstbootUnit),
    firstbootUnit,
    digest,
  };
}

/** The callback library the runner sources, and the unit that reports the outcome once the network is up. */
function completionReporterFiles(): BundleFile[] {
  return [
    { path: 'lib/outpost-callback.sh', content: readTemplate('firstboot/outpost-callback.sh'), mode: 0o755 },
    { path: 'lib/report-firstboot.sh', content: readTemplate('firstboot/report-firstboot.sh'), mode: 0o755 },
    {
      path: 'lib/outpost-firstboot-report.service',
      content: readTemplate('firstboot/outpost-firstboot-report.service'),
      mode: 0o644,
    },
  ];
}

function requireUniquePaths(files: readonly BundleFile[], artefacts: readonly BundleArtefact[]): void {
  const seen = new Set<string>([RUNNER_NAME]);
  for (const f of files) {
    if (seen.has(f.path)) {
      throw new InputError(
        `two first-boot bundle files would be called ${JSON.stringify(f.path)} (a custom script or file uses a name outpost needs)`,
      );
    }
    seen.add(f.path);
  }
  const artefactPaths = new Set<string>();
  for (const a of artefacts) {
    if (artefactPaths.has(a.path))
      throw new InputError(`two artefacts would be called ${JSON.stringify(a.path)}`);
    artefactPaths.add(a.path);
  }
}

/** Any file that carries a resolved ${ENV} value or a password hash is redacted in build copies. */
function flagSecrets(files: BundleFile[], secrets: ReadonlySet<string>): void {
  if (secrets.size === 0) return;
  for (const f of files) {
    if (f.secret) continue;
    const text = typeof f.content === 'string' ? f.content : Buffer.from(f.content).toString('utf8');
    for (const s of secrets) {
      if (s.length > 0 && text.includes(s)) {
        f.secret = true;
        break;
      }
    }
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
