/**
 * What the management appliance adds to an image, as first-boot bundle content for the one builder:
 * the payload tar (an artefact: copied to the image, never read into memory), the units, the wrapper,
 * the service's settings, what it imports at its first start, and the step that installs them
 * (band 30-49, after the OS steps and before the definition's own scripts). Pure: names and text only.
 */

import type { BundleContribution, BundleFile } from '../bundle/types.ts';
import { readTemplate, renderTemplate } from '../common/templates.ts';

/** The first-boot step that installs the appliance. */
export const APPLIANCE_STEP = '40-outpost-appliance.sh';

export interface ApplianceSettings {
  /** `host:port` outpost.service listens on. */
  listen: string;
  /** `http(s)://host[:port]` BMCs reach the service at (serve's --advertise-url), when not `http://<listen>`. */
  advertiseUrl?: string;
  /**
   * Hosts imported with `outpost hosts import` at first start: outpost inventory YAML with every value
   * resolved on the build side (`${ENV}`, passwordFile), as the build host read it.
   */
  inventory?: string;
  /** A site kit imported with `outpost kit import` at first start: its path on the build host. */
  kit?: string;
  /** The BMC credentials the kit needs (`kit import --secrets`): the text of that file. */
  kitSecrets?: string;
}

const LISTEN =
  /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*):(\d{1,5})$/;
const URL_FORM = /^https?:\/\/(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** The settings' problems, each naming its option; empty when they are fine. */
export function settingsProblems(s: ApplianceSettings): string[] {
  const problems: string[] = [];
  const listen = LISTEN.exec(s.listen);
  if (!listen || Number(listen[5]) < 1 || Number(listen[5]) > 65535)
    problems.push(
      `--listen must be host:port (e.g. 0.0.0.0:8080 or 10.0.0.2:8080), not ${JSON.stringify(s.listen)}`,
    );
  if (s.advertiseUrl !== undefined && !URL_FORM.test(s.advertiseUrl))
    problems.push(
      `--advertise-url must be http(s)://host[:port] (no path), not ${JSON.stringify(s.advertiseUrl)}`,
    );
  return problems;
}

const KIT_NAME = 'site-kit';
const INVENTORY_NAME = 'inventory.yaml';
const KIT_SECRETS_NAME = 'kit-secrets.yaml';

/** The bundle content of the appliance; `payloadTar` is the path of writePayload's tar on the build host. */
export function applianceContribution(s: ApplianceSettings, payloadTar: string): BundleContribution {
  // Files carried in the bundle (small, 0600) and copied to the import folder; the kit is an artefact.
  const importFiles = [
    ...(s.inventory === undefined ? [] : [INVENTORY_NAME]),
    ...(s.kit && s.kitSecrets !== undefined ? [KIT_SECRETS_NAME] : []),
  ];
  const kitName = s.kit ? `${KIT_NAME}${kitSuffix(s.kit)}` : undefined;
  const commands: string[][] = [];
  if (kitName)
    commands.push([
      'kit',
      'import',
      kitName,
      ...(s.kitSecrets !== undefined ? ['--secrets', KIT_SECRETS_NAME] : []),
    ]);
  if (s.inventory !== undefined) commands.push(['hosts', 'import', INVENTORY_NAME]);
  const file = (name: string, content: string | Uint8Array, mode = 0o644, secret = false): BundleFile => ({
    path: `appliance/${name}`,
    content,
    mode,
    ...(secret && { secret: true }),
  });
  return {
    files: [
      file('outpost', readTemplate('appliance/outpost'), 0o755),
      file('outpost.service', readTemplate('appliance/outpost.service')),
      file('outpost-kit-import.service', readTemplate('appliance/outpost-kit-import.service')),
      file('outpost-console-token.service', readTemplate('appliance/outpost-console-token.service')),
      file('console-token.sh', readTemplate('appliance/console-token.sh'), 0o755),
      file(
        'import-site.sh',
        renderTemplate('appliance/import-site.sh.hbs', {
          commands,
          files: [...importFiles, ...(kitName ? [kitName] : [])],
        }),
        0o755,
      ),
      file(
        'outpost.env',
        renderTemplate('appliance/outpost.env.hbs', {
          listen: s.listen,
          serveOptions: s.advertiseUrl ? `--advertise-url ${s.advertiseUrl}` : '',
        }),
      ),
      // Inventories hold BMC passwords: redacted in the build directory's copy of the bundle.
      ...(s.inventory === undefined ? [] : [file(`import/${INVENTORY_NAME}`, s.inventory, 0o600, true)]),
      ...(s.kit && s.kitSecrets !== undefined
        ? [file(`import/${KIT_SECRETS_NAME}`, s.kitSecrets, 0o600, true)]
        : []),
    ],
    scripts: [
      {
        name: APPLIANCE_STEP,
        content: renderTemplate('appliance/install.sh.hbs', {
          files: importFiles,
          kit: kitName ?? '',
          importCount: importFiles.length + (kitName ? 1 : 0),
        }),
      },
    ],
    artefacts: [
      { path: 'appliance/outpost.tar', source: payloadTar },
      ...(s.kit && kitName ? [{ path: `appliance/${kitName}`, source: s.kit }] : []),
    ],
  };
}

/** The kit keeps its archive suffix (the importer may tell zip from tar by it). */
function kitSuffix(file: string): string {
  const m = /\.(tar\.zst|tar\.gz|tar|tzst|zip)$/i.exec(file);
  return m ? `.${m[1]!.toLowerCase()}` : '';
}
