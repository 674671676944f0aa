/**
 * A whole virtual site on one machine: the builder, the management service and the lab together. The top
 * layer beside the CLI: it uses every domain below it and nothing imports it but the CLI, scripts and tests.
 */
export {
  allReady,
  type ClusterSite,
  type ClusterTrialHost,
  type ClusterTrialOptions,
  type ClusterTrialResult,
  type ClusterView,
  DEFAULT_RKE2_VERSION,
  formatClusterTrial,
  runClusterTrial,
  type SiteMoment,
} from './cluster-site.ts';
export { type FiguresInput, provisionFigures } from './figures.ts';
export { formatTrial, runTrial, type TrialHostResult, type TrialOptions, type TrialResult } from './run.ts';
