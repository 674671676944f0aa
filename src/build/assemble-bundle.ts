import { type AssembleOptions, assembleBundleWith } from '../bundle/assemble.ts';
import type { Bundle } from '../bundle/bundle.ts';
import {
  certificatesContribution,
  customContribution,
  growfsContribution,
  osFilesContribution,
} from '../bundle/config-dir-steps.ts';
import type { BundleContributor } from '../bundle/context.ts';
import { osSettingsContribution } from '../bundle/os-settings.ts';
import type { LoadedDefinition } from '../definition/types.ts';
import { kubernetesContribution } from '../kubernetes/contributor.ts';
import { networkContribution } from '../network/contributor.ts';

/**
 * Every domain that adds to the first-boot bundle, in one list. Order here does not decide the run
 * order (script names do, lexically, in EIB's bands: 00-09 network, 10-19 OS, 20-29 kubernetes,
 * 30-49 other, 50-99 custom scripts); it only decides which contributor wins error reporting first.
 * Listed here, above the bundle and the domains that contribute, so that none of them imports another.
 */
export const bundleContributors: readonly BundleContributor[] = [
  growfsContribution,
  osFilesContribution,
  certificatesContribution,
  osSettingsContribution,
  customContribution,
  networkContribution,
  kubernetesContribution,
];

/** Builds the first-boot bundle for a loaded definition with every contributor (see assembleBundleWith). */
export function assembleBundle(loaded: LoadedDefinition, opts: AssembleOptions): Promise<Bundle> {
  return assembleBundleWith(loaded, opts, bundleContributors);
}
