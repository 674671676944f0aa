import type { Diagnostic } from '../common/diagnostics.ts';
import { checkKubernetesRelease } from '../kubernetes/check.ts';
import { checkNetworkFiles } from '../network/check.ts';
import { checkBaseImage } from './checks/base-image.ts';
import { checkComponentDirectories, checkUnsupportedDirectories } from './checks/directories.ts';
import { checkHelmFiles, checkKubernetesFiles } from './checks/kubernetes-files.ts';
import { checkKubernetesNetwork } from './checks/kubernetes-network.ts';
import { checkOutputImage } from './checks/output-image.ts';
import type { DefinitionDraft } from './types.ts';

/** What a check of the config directory gets: the definition as far as it could be read, and ways to point. */
export interface ConfigDirCheckContext {
  /** Absolute path of the config directory. */
  configDir: string;
  /** Absolute path of the definition file. */
  definitionFile: string;
  /** Every field may be missing when the definition has problems: check what is there. */
  definition: DefinitionDraft;
  /** The path to print for a file of the config dir (given relative to it): relative to the working directory. */
  displayPath(relativeToConfigDir: string): string;
  /** A problem about a field of the definition, positioned on it (e.g. `kubernetes.nodes[1].hostname`). */
  atField(fieldPath: string, message: string, section: string): Diagnostic;
  /** A problem about a file or directory of the config dir as a whole (line 1, column 1). */
  atFile(relativeToConfigDir: string, message: string, section: string): Diagnostic;
}

export type ConfigDirCheck = (ctx: ConfigDirCheckContext) => Promise<Diagnostic[]>;

/** Every check run by `outpost validate` (and before a build), in no particular order: all run, all report. */
export const configDirChecks: ConfigDirCheck[] = [
  checkBaseImage,
  checkComponentDirectories,
  checkUnsupportedDirectories,
  checkHelmFiles,
  checkKubernetesFiles,
  checkKubernetesRelease,
  checkNetworkFiles,
  checkKubernetesNetwork,
  checkOutputImage,
];

/**
 * What `outpost artefacts pull` checks before it fetches anything: every check but the one of the files it
 * fetches (the RKE2 release) and the base image's, which it does not need (it may be fetched elsewhere).
 */
export const checksBeforePull: ConfigDirCheck[] = configDirChecks.filter(
  (check) => check !== checkKubernetesRelease && check !== checkBaseImage,
);
