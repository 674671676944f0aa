/**
 * A build as a list of steps that can be printed before anything is written (`--dry-run`). Pure: the
 * facts come from reading the definition and inspecting the base image read-only, the steps from the
 * one step table (steps.ts), which also drives the progress lines and the run.
 */
import type { FirstBootEngine } from '../bundle/bundle.ts';
import type { ImageDefinition } from '../definition/types.ts';
import type { BootConfig } from '../image/boot-config.ts';
import type { FilesystemInfo } from '../image/filesystem-probe.ts';
import type { Partition } from '../image/partition-table.ts';
import type { Sizing } from './sizing.ts';

/** A step's stable name: reports, logs, error messages and the test hooks use it. */
export type StepId = string;

/**
 * One row of the step table. `Run` is the mutable state of one build the steps share (see steps.ts);
 * the plan needs only the pure parts: id, title, `appliesWhen` and `describe`.
 */
export interface StepDefinition<Run> {
  id: StepId;
  title: string;
  /** Runs in a dry run too, so it must write nothing (it may mount the base image read-only). */
  readOnly?: boolean;
  /** When the step applies; one that does not is still listed (as skipped) so numbering stays fixed. */
  appliesWhen?: (facts: BuildFacts) => boolean;
  /** The plan's one line for this build (when the step does not apply: why). */
  describe: (facts: BuildFacts) => string;
  /** The file or directory the step writes, named when it fails with an I/O error. */
  target?: (run: Run) => string | undefined;
  /** Does the step. */
  run: (run: Run) => Promise<void> | void;
}

export interface PlanStep {
  id: StepId;
  title: string;
  detail: string;
  /** False when the step does not apply to this build (it is skipped). */
  applies: boolean;
}

export interface BuildFacts {
  definitionFile: string;
  /** The whole loaded definition, so a step can say when it applies (e.g. only with `kubernetes:`). */
  definition: ImageDefinition;
  basePath: string;
  baseSize: number;
  outputPath: string;
  partitionScheme: 'gpt' | 'mbr';
  root: { partition: Partition; fs: FilesystemInfo; readOnlySubvolume: boolean };
  osName: string;
  engine: FirstBootEngine;
  engineSource: 'detected' | 'option';
  bootConfigs: BootConfig[];
  kernelArgs: string[];
  sizing: Sizing;
  /** `iso`: the raw image is wrapped in outpost's self-installing ISO. */
  output: { type: 'raw' | 'iso'; installDevice?: string };
  bundle: { files: number; artefacts: number; payloadBytes: number; digest: string };
}

export function stepApplies<Run>(step: StepDefinition<Run>, facts: BuildFacts): boolean {
  return step.appliesWhen?.(facts) ?? true;
}

/** The plan of one build: every row of the table, described for these facts. */
export function planBuild<Run>(table: readonly StepDefinition<Run>[], facts: BuildFacts): PlanStep[] {
  return table.map((s) => ({
    id: s.id,
    title: s.title,
    detail: s.describe(facts),
    applies: stepApplies(s, facts),
  }));
}

/** A step's detail as the plan and the progress lines show it. */
export function stepDetail(s: PlanStep): string {
  return s.applies ? s.detail : `skipped: ${s.detail}`;
}

export function formatPlan(steps: readonly PlanStep[]): string {
  const width = Math.max(...steps.map((s) => s.title.length));
  return steps
    .map((s, i) => `${String(i + 1).padStart(2)}. ${s.title.padEnd(width)}  ${stepDetail(s)}`)
    .join('\n');
}
