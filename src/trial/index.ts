/**
 * A whole virtual site on one machine: the builder, the management service and the lab together. The top
 * layer beside the CLI: it uses every domain below it and nothing imports it but the CLI, scripts and tests.
 */
export { formatTrial, runTrial, type TrialHostResult, type TrialOptions, type TrialResult } from './run.ts';
