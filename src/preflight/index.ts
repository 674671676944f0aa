/** `outpost preflight`: facts of the management node (facts.ts) judged by fixed rules (evaluate.ts). */
export {
  type CheckResult,
  evaluate,
  exitCode,
  type Facts,
  type Status,
  THRESHOLDS,
} from './evaluate.ts';
export { type BmcTarget, gatherFacts, TIMEOUTS_MS } from './facts.ts';
export { TOOLS } from './tools.ts';
