/**
 * `outpost build`: turns a vendor raw image into a site-ready image by running the rows of the step
 * table (steps.ts) in order. The base image is only ever read; the output is assembled under a temporary
 * name next to its final path and published when complete. Every mount and loop device sits on a cleanup
 * stack that unwinds on success, error and SIGINT/SIGTERM.
 */
import { statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FirstBootEngine } from '../bundle/bundle.ts';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { redactValues } from '../common/redact.ts';
import type { BootConfig } from '../image/boot-config.ts';
import { Interrupted, withCleanup } from '../image/cleanup.ts';
import { Journal } from '../image/journal.ts';
import { naming } from './build-dir.ts';
import {
  type PlanStep,
  planBuild,
  type StepDefinition,
  type StepId,
  stepApplies,
  stepDetail,
} from './plan.ts';
import { BUILD_JOURNAL_DIR, BUILD_STEPS, type BuildOptions, BuildRun, type FileRecord } from './steps.ts';
import { stopPoint } from './test-stop.ts';

export type { BuildOptions, FileRecord } from './steps.ts';
export { BUILD_JOURNAL_DIR, COMBUSTION_LABEL, checkPaths } from './steps.ts';

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
  /** What was reclaimed from builds that died (loop devices, mounts, temporary files). */
  reclaimed: string[];
}

export async function buildImage(options: BuildOptions): Promise<BuildReport> {
  const started = new Date();
  const timings: BuildReport['steps'] = [];
  let current: StepId = BUILD_STEPS[0]!.id;
  let build: BuildRun | undefined;
  try {
    return await withCleanup(
      async (stack) => {
        const b = new BuildRun(options, stack, started);
        build = b;
        let plan: PlanStep[] = [];
        const report = (status: BuildReport['status']) => reportOf(status, b, plan, timings);
        b.writeReport = () => {
          const file = path.join(b.buildDir!, 'report.json');
          naming(file, () =>
            writeFileSync(
              file,
              `${JSON.stringify(redactValues(report('succeeded'), b.loaded.secrets), null, 2)}\n`,
            ),
          );
        };
        for (const [index, step] of BUILD_STEPS.entries()) {
          if (options.dryRun && !step.readOnly) continue;
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
          stopPoint(step.id);
          try {
            // The build directory appears with the first step that writes once the inputs are known
            // good: a build refused while loading or inspecting writes nothing.
            if (!step.readOnly && facts) b.openBuildDir();
            b.log(`== ${step.id}`);
            await step.run(b);
          } catch (error) {
            throw stepFailure(step, b, error);
          }
          stopPoint(`${step.id}:done`);
          timings.push({ id: step.id, title: step.title, ms: Math.round(performance.now() - t0) });
        }
        if (!plan.length) plan = planBuild(BUILD_STEPS, b.facts);
        if (options.dryRun) return report('planned');
        b.log('build succeeded');
        return redactValues(report('succeeded'), b.loaded.secrets);
      },
      { journal: openJournal() },
    );
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

/** Of the directories holding these paths, those whose filesystem has less than 1 MiB left. */
function fullFilesystems(paths: (string | undefined)[]): string[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    if (!p) continue;
    // A path like `/x/.site.raw.partial-1 (root filesystem mounted at /tmp/m)`: its first word.
    const file = p.split(' ')[0]!;
    for (const dir of [file, path.dirname(file)]) {
      try {
        if (statSync(dir).isDirectory()) {
          dirs.add(dir);
          break;
        }
      } catch {
        // not there (yet)
      }
    }
  }
  return [...dirs].filter((dir) => {
    try {
      const fs = statfsSync(dir);
      return fs.bavail * fs.bsize < 2 ** 20;
    } catch {
      return false;
    }
  });
}

function openJournal(): Journal {
  try {
    return Journal.open(BUILD_JOURNAL_DIR);
  } catch (error) {
    throw new OperationError(
      `cannot record what the build holds in ${BUILD_JOURNAL_DIR}: ${error instanceof Error ? error.message : String(error)}`,
    );
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
    reclaimed: b.reclaimed,
  };
}

/**
 * A step's failure as the user sees it: bad input stays an InputError (exit 2), an interruption stays
 * one; a failed tool or any I/O error (a full disk) becomes an OperationError naming the step and the
 * path (exit 1, no stack trace). Programming errors (TypeError...) are left alone to surface as such.
 */
function stepFailure(step: StepDefinition<BuildRun>, b: BuildRun, error: unknown): unknown {
  if (error instanceof InputError || error instanceof Interrupted || !(error instanceof Error)) return error;
  const system = (error as NodeJS.ErrnoException).syscall !== undefined;
  if (!(error instanceof OperationError) && !system && error.constructor !== Error) return error;
  let target: string | undefined;
  let partial: string | undefined;
  try {
    target = (error as NodeJS.ErrnoException).path ?? step.target?.(b);
    partial = b.partial;
  } catch {
    // Not known yet (the step failed before the definition or the mount was there).
  }
  // Tools report a full disk in their own words (or not at all): say it plainly when it is the cause.
  const full = fullFilesystems([target, partial, tmpdir()]);
  const failure = new OperationError(
    `step "${step.id}" (${step.title}) failed${target ? ` on ${target}` : ''}: ${error.message}` +
      (full.length ? `\n(no space left on device: ${full.join(', ')})` : ''),
    { cause: error },
  );
  return failure;
}
