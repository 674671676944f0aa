import type { ImageDefinition, LoadedDefinition } from '../definition/types.ts';
import type { FirstBootEngine } from './bundle.ts';
import type { BundleContribution } from './types.ts';

/** What every contributor sees: the validated definition, where its config directory is, and the engine. */
export interface BundleContext {
  loaded: LoadedDefinition;
  definition: ImageDefinition;
  configDir: string;
  engine: FirstBootEngine;
  /** The build's environment (for values a config file takes by `${NAME}` reference); default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * A domain's share of the first-boot bundle. Contributors may read their own inputs from the config
 * directory; they return nothing to write when their part of the definition is empty.
 */
export type BundleContributor = (ctx: BundleContext) => BundleContribution | Promise<BundleContribution>;

export function emptyContribution(): BundleContribution {
  return { files: [], scripts: [], artefacts: [] };
}
