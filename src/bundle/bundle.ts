import type { BundleArtefact, BundleFile } from './types.ts';

export type { BundleArtefact, BundleFile } from './types.ts';

/** Which first-boot runner the image uses: SUSE's combustion, or our own run-once systemd unit. */
export type FirstBootEngine = 'combustion' | 'systemd';

export const FIRSTBOOT_UNIT_NAME = 'outpost-firstboot.service';

/**
 * The assembled first-boot bundle, ready to be written into an image. The image writer puts `files`
 * under `/combustion`, `artefacts` under `/artefacts` and, for the systemd engine, installs
 * `firstbootUnit` under `/etc/systemd/system` and enables it.
 */
export interface Bundle {
  /** Paths relative to `/combustion`, including `script` (the runner) and the numbered `NN-*.sh` steps. */
  files: BundleFile[];
  /** Bulky payload copied into `/artefacts`. */
  artefacts: BundleArtefact[];
  /** Ignition spec 3.3.0 JSON with the same users, files and units, for OSes that run Ignition. */
  ignitionConfig: string;
  firstbootUnit: { name: typeof FIRSTBOOT_UNIT_NAME; content: string };
  /** sha256 (hex) over the bundle files (paths, modes and contents); written into the completion marker. */
  digest: string;
}
