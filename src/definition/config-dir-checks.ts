import type { Diagnostic } from '../common/diagnostics.ts';
import type { Environment } from '../common/yaml-cursor.ts';
import type { DefinitionDraft } from './types.ts';

/** What a check of the config directory gets: the definition as far as it could be read, and ways to point. */
export interface ConfigDirCheckContext {
  /** Absolute path of the config directory. */
  configDir: string;
  /** Absolute path of the definition file. */
  definitionFile: string;
  /** Every field may be missing when the definition has problems: check what is there. */
  definition: DefinitionDraft;
  /** Where `${NAME}` references of config-dir files (server.yaml's token) are resolved from. */
  env?: Environment;
  /** The path to print for a file of the config dir (given relative to it): relative to the working directory. */
  displayPath(relativeToConfigDir: string): string;
  /** A problem about a field of the definition, positioned on it (e.g. `kubernetes.nodes[1].hostname`). */
  atField(fieldPath: string, message: string, section: string): Diagnostic;
  /** A problem about a file or directory of the config dir as a whole (line 1, column 1). */
  atFile(relativeToConfigDir: string, message: string, section: string): Diagnostic;
}

export type ConfigDirCheck = (ctx: ConfigDirCheckContext) => Promise<Diagnostic[]>;
