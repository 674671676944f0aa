import { checkBaseImage } from '../definition/checks/base-image.ts';
import { checkComponentDirectories, checkUnsupportedDirectories } from '../definition/checks/directories.ts';
import { checkHelmFiles, checkKubernetesFiles } from '../definition/checks/kubernetes-files.ts';
import { checkKubernetesNetwork } from '../definition/checks/kubernetes-network.ts';
import { checkOutputImage } from '../definition/checks/output-image.ts';
import type { ConfigDirCheck } from '../definition/config-dir-checks.ts';
import { type LoadOptions, loadDefinitionWith } from '../definition/load.ts';
import { checkChartSources, checkKubernetesBuildRules, checkKubernetesRelease } from '../kubernetes/check.ts';
import { checkNetworkFiles } from '../network/check.ts';

/**
 * Every check run by `outpost validate` (and before a build), in no particular order: all run, all report.
 * Listed here, above the definition and the domains that read the config directory, so that none of them
 * imports another to find its checks.
 */
export const configDirChecks: ConfigDirCheck[] = [
  checkBaseImage,
  checkComponentDirectories,
  checkUnsupportedDirectories,
  checkHelmFiles,
  checkKubernetesFiles,
  checkKubernetesRelease,
  checkKubernetesBuildRules,
  checkChartSources,
  checkNetworkFiles,
  checkKubernetesNetwork,
  checkOutputImage,
];

/** Reads and checks a definition and its whole config directory (see loadDefinitionWith). */
export function loadDefinition(opts: LoadOptions) {
  return loadDefinitionWith(opts, configDirChecks);
}

/**
 * What `outpost artefacts pull` checks before it fetches anything: every check but those of the files it
 * fetches (the RKE2 release, the charts) and the base image's, which it does not need (it may be fetched
 * elsewhere).
 */
export const checksBeforePull: ConfigDirCheck[] = configDirChecks.filter(
  (check) => check !== checkKubernetesRelease && check !== checkChartSources && check !== checkBaseImage,
);

/** Reads and checks a definition as `outpost artefacts pull` needs it (see checksBeforePull). */
export function loadDefinitionBeforePull(opts: LoadOptions) {
  return loadDefinitionWith(opts, checksBeforePull);
}
