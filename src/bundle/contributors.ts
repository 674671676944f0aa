import { kubernetesContribution } from '../kubernetes/contributor.ts';
import { networkContribution } from '../network/contributor.ts';
import {
  certificatesContribution,
  customContribution,
  growfsContribution,
  osFilesContribution,
} from './config-dir-steps.ts';
import type { BundleContributor } from './context.ts';
import { osSettingsContribution } from './os-settings.ts';

/**
 * Every domain that adds to the first-boot bundle, in one list. Order here does not decide the run
 * order (script names do, lexically, in EIB's bands: 00-09 network, 10-19 OS, 20-29 kubernetes,
 * 30-49 other, 50-99 custom scripts); it only decides which contributor wins error reporting first.
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
