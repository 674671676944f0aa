/**
 * `outpost appliance`: the management node's image, built by the one builder (buildImage and its step
 * table) from the node's definition, with the appliance's content added to the first-boot bundle. The
 * raw image always; with `iso` (or the definition's imageType: iso) also the self-installing ISO, a
 * second run of the same builder that wraps the same content.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type BuildOptions, type BuildReport, buildImage } from '../build/build-image.ts';
import { loadDefinition } from '../build/load-definition.ts';
import { InputError } from '../common/diagnostics.ts';
import { type ApplianceSettings, applianceContribution, settingsProblems } from './contribution.ts';
import { type Payload, writePayload } from './payload.ts';

export interface ApplianceOptions
  extends Omit<BuildOptions, 'contributions' | 'imageTypeOverride' | 'dryRun'> {
  settings: ApplianceSettings;
  /** Also build the installer ISO (the definition's imageType: iso asks for it too). */
  iso?: boolean;
}

export interface ApplianceReport {
  payload: Omit<Payload, 'file'>;
  raw: BuildReport;
  iso?: BuildReport;
}

export async function buildAppliance(options: ApplianceOptions): Promise<ApplianceReport> {
  const problems = settingsProblems(options.settings);
  if (problems.length) throw new InputError(problems.join('\n'));
  const { loaded, diagnostics } = await loadDefinition({
    configDir: options.configDir,
    definitionFile: options.definitionFile,
    env: options.env ?? process.env,
  });
  if (!loaded) throw new InputError(`the image definition has ${diagnostics.length} problem(s)`, diagnostics);
  const image = loaded.definition.image;
  const wantIso = options.iso === true || image.imageType === 'iso';
  const names = outputNames(image.outputImageName);

  // The payload is staged under the build root (`_build`, an input folder no output may name), in a
  // folder named after this process; what an appliance build that died left is removed here.
  const buildRoot = options.buildRoot ?? path.join(path.resolve(options.configDir), '_build');
  mkdirSync(buildRoot, { recursive: true });
  for (const name of readdirSync(buildRoot)) {
    const pid = STAGE_NAME.exec(name)?.[1];
    if (pid && !processAlive(Number(pid)))
      rmSync(path.join(buildRoot, name), { recursive: true, force: true });
  }
  const work = path.join(buildRoot, `appliance-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const payload = await writePayload(path.join(work, 'outpost.tar'), path.join(work, 'stage'));
    rmSync(path.join(work, 'stage'), { recursive: true, force: true });
    const contributions = [applianceContribution(options.settings, payload.file)];
    const raw = await buildImage({
      ...options,
      contributions,
      imageTypeOverride: { imageType: 'raw', outputImageName: names.raw },
    });
    const iso = wantIso
      ? await buildImage({
          ...options,
          contributions,
          imageTypeOverride: { imageType: 'iso', outputImageName: names.iso },
        })
      : undefined;
    const { file: _file, ...summary } = payload;
    return { payload: summary, raw, ...(iso && { iso }) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const STAGE_NAME = /^appliance-(\d+)$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `mgmt.raw` -> `mgmt.raw` and `mgmt.iso`; `mgmt.img` -> `mgmt.img` and `mgmt.img.iso`; in the definition's folder. */
export function outputNames(outputImageName: string): { raw: string; iso: string } {
  const stem = outputImageName.replace(/\.(raw|iso)$/i, '');
  return {
    raw: /\.iso$/i.test(outputImageName) ? `${stem}.raw` : outputImageName,
    iso: `${stem}.iso`,
  };
}
