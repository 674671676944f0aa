import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BundleContext } from '../bundle/context.ts';
import type { BundleContribution, BundleFile } from '../bundle/types.ts';
import { InputError } from '../common/diagnostics.ts';
import { renderTemplate } from '../common/templates.ts';
import { CUSTOM_SCRIPT, NETWORK_DIR, readNetworkDirectory } from './config-dir.ts';
import { generateNetwork } from './generate.ts';

export const NETWORK_STEP = '05-configure-network.sh';
/** The first-boot twin of the TypeScript generator, for nmstate that arrives on a config drive. */
export const FIRSTBOOT_GENERATOR = 'nmstate-keyfiles.awk';
const generatorSource = new URL(`../../templates/network/${FIRSTBOOT_GENERATOR}`, import.meta.url);

/**
 * The network share of the first-boot bundle: profiles rendered now for every host file, the host
 * map, the first-boot generator for config drives, and the step that picks and installs a host's
 * profiles. The step is always there, so an image without host files still honours a config drive.
 */
export async function networkContribution(ctx: BundleContext): Promise<BundleContribution> {
  const display = (relative: string) =>
    path.relative(process.cwd(), path.join(ctx.configDir, relative)) || relative;
  const dir = await readNetworkDirectory(ctx.configDir, display);
  const files: BundleFile[] = [
    {
      path: `${NETWORK_DIR}/${FIRSTBOOT_GENERATOR}`,
      content: await readFile(generatorSource, 'utf8'),
      mode: 0o644,
    },
  ];
  if (dir.customScript) {
    files.push({
      path: `${NETWORK_DIR}/${CUSTOM_SCRIPT}`,
      content: await readFile(dir.customScript),
      mode: 0o755,
    });
  } else if (dir.hostFiles.length) {
    const generated = generateNetwork(dir.hostFiles);
    const problems = [...dir.problems, ...generated.diagnostics];
    if (problems.length)
      throw new InputError(`the network host files have ${problems.length} problem(s)`, problems);
    for (const f of generated.files) {
      const keyfile = f.path.endsWith('.nmconnection');
      files.push({ path: `${NETWORK_DIR}/${f.path}`, content: f.content, mode: keyfile ? 0o600 : 0o644 });
    }
  }
  return {
    files,
    scripts: [
      {
        name: NETWORK_STEP,
        content: renderTemplate('network/configure-network.sh.hbs', {
          customScript: dir.customScript ? CUSTOM_SCRIPT : '',
        }),
      },
    ],
    artefacts: [],
  };
}
