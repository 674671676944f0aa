/**
 * `outpost build`: turns a vendor raw image into a site-ready image by running the rows of the step
 * table (steps.ts) in order. The base image is only ever read; the output is assembled under a temporary
 * name next to its final path and published when complete. Every mount and loop device sits on a cleanup
 * stack that unwinds on success, error and SIGINT/SIGTERM.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FirstBootEngine } from '../bundle/bundle.ts';
import type { BootConfig } from '../image/boot-config.ts';
import { withCleanup } from '../image/cleanup.ts';
import { type PlanStep, planBuild, type StepId, stepApplies, stepDetail } from './plan.ts';
import { BUILD_STEPS, type BuildOptions, BuildRun, type FileRecord } from './steps.ts';

export type { BuildOptions, FileRecord } from './steps.ts';
export { COMBUSTION_LABEL, checkPaths } from './steps.ts';

export interface BuildReport {
  status: 'succeeded' | 'planned';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  buildDir?: string;
  definition: { file: string; apiVersion: string };
  inputs: FileRecord[];
  outputs: FileRecord[];
  image: {
    os: string;
    partitionTable: 'gpt' | 'mbr';
    rootPartition: number;
    rootFilesystem: string;
    engine: FirstBootEngine;
    engineSource: 'detected' | 'option';
    bootConfigs: BootConfig[];
    kernelArgs: string[];
    baseBytes: number;
    outputBytes: number;
    rootGrown: boolean;
    kernelArgFiles: string[];
  };
  bundle: {
    digest: string;
    files: { path: string; mode: string; bytes: number; secret: boolean }[];
    artefacts: string[];
  };
  plan: PlanStep[];
  steps: { id: StepId; title: string; ms: number }[];
}

export async function buildImage(options: BuildOptions): Promise<BuildReport> {
  const started = new Date();
  const timings: BuildReport['steps'] = [];
  let current: StepId = BUILD_STEPS[0]!.id;
  let build: BuildRun | undefined;
  try {
    return await withCleanup(async (stack) => {
      const b = new BuildRun(options, stack, started);
      build = b;
      let plan: PlanStep[] = [];
      const report = (status: BuildReport['status']) => reportOf(status, b, plan, timings);
      b.writeReport = () =>
        writeFileSync(
          path.join(b.buildDir!, 'report.json'),
          `${b.redact(JSON.stringify(report('succeeded'), null, 2))}\n`,
        );
      for (const [index, step] of BUILD_STEPS.entries()) {
        if (options.dryRun && !step.readOnly) break;
        stack.checkpoint();
        current = step.id;
        const facts = b.factsIfKnown;
        if (facts && !plan.length) plan = planBuild(BUILD_STEPS, facts);
        // Before the base image is inspected only the step names are known.
        const planned = plan[index];
        options.onStep?.(
          planned
            ? { ...planned, detail: stepDetail(planned) }
            : { id: step.id, title: step.title, detail: '' },
          index,
          BUILD_STEPS.length,
        );
        if (facts && !stepApplies(step, facts)) continue;
        const t0 = performance.now();
        if (!step.readOnly) b.openBuildDir();
        b.log(`== ${step.id}`);
        await step.run(b);
        timings.push({ id: step.id, title: step.title, ms: Math.round(performance.now() - t0) });
      }
      if (!plan.length) plan = planBuild(BUILD_STEPS, b.facts);
      if (options.dryRun) return report('planned');
      b.log('build succeeded');
      return JSON.parse(b.redact(JSON.stringify(report('succeeded')))) as BuildReport;
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    try {
      build?.log(`failed during ${current}: ${message}`);
    } catch {
      // The log may be what failed (a full disk); the error itself still reaches the caller.
    }
    if (error instanceof Error) (error as Error & { step?: string }).step ??= current;
    throw error;
  }
}

function reportOf(
  status: BuildReport['status'],
  b: BuildRun,
  plan: PlanStep[],
  steps: BuildReport['steps'],
): BuildReport {
  const { facts, bundle, loaded } = b;
  const finished = new Date();
  return {
    status,
    startedAt: b.started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - b.started.getTime(),
    buildDir: b.buildDir,
    definition: { file: loaded.file, apiVersion: loaded.definition.apiVersion },
    inputs: b.inputs,
    outputs: b.outputs,
    image: {
      os: facts.osName,
      partitionTable: facts.partitionScheme,
      rootPartition: facts.root.partition.number,
      rootFilesystem: facts.root.fs.type,
      engine: facts.engine,
      engineSource: facts.engineSource,
      bootConfigs: facts.bootConfigs,
      kernelArgs: facts.kernelArgs,
      baseBytes: facts.baseSize,
      outputBytes: facts.sizing.targetSize,
      rootGrown: facts.sizing.growRoot,
      kernelArgFiles: b.kernelArgFiles,
    },
    bundle: {
      digest: bundle.digest,
      files: bundle.files.map((f) => ({
        path: f.path,
        mode: f.mode.toString(8).padStart(4, '0'),
        bytes: Buffer.byteLength(f.content),
        secret: f.secret === true,
      })),
      artefacts: bundle.artefacts.map((a) => a.path),
    },
    plan,
    steps,
  };
}
