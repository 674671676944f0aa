import path from 'node:path';
import {
  BUILD_JOURNAL_DIR,
  type BuildOptions,
  type BuildReport,
  buildImage,
} from '../../build/build-image.ts';
import { formatPlan } from '../../build/plan.ts';
import { reclaimLeftovers } from '../../build/reclaim.ts';
import { OperationError } from '../../common/diagnostics.ts';
import { formatBytes } from '../../common/units.ts';
import { Interrupted } from '../../image/cleanup.ts';
import { resolveConfigDir } from '../config-dir.ts';
import { type OutputFormat, printJson } from '../output.ts';
import { progressBars } from '../progress.ts';

/**
 * The options of `outpost build`. Declared here, not in build.ts: build.ts loads this file only when the
 * command runs, and the two must not import each other.
 */
export interface BuildCommandOptions {
  configDir?: string;
  definitionFile?: string;
  output: OutputFormat;
  dryRun?: boolean;
  cleanup?: boolean;
  engine: 'auto' | 'combustion' | 'systemd';
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as Record<string, number>;

/** `outpost build --cleanup`: reclaims what dead builds left, prints each thing it undid. */
export async function runCleanup(opts: BuildCommandOptions): Promise<void> {
  const configDir = resolveConfigDir(opts.configDir);
  const result = await reclaimLeftovers(BUILD_JOURNAL_DIR, [configDir]);
  if (opts.output === 'json') printJson(result);
  else {
    for (const line of result.undone) process.stdout.write(`reclaimed: ${line}\n`);
    if (!result.undone.length) process.stdout.write('nothing to reclaim\n');
    for (const line of result.problems) process.stderr.write(`cannot reclaim: ${line}\n`);
  }
  if (result.problems.length) process.exitCode = 1;
}

/** `outpost build`: loaded only when the command runs, so other commands start fast. */
export async function runBuild(opts: BuildCommandOptions & { definitionFile: string }): Promise<void> {
  // A reader that goes away (a closed pipe) must not crash the build with mounts still in place.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  const configDir = resolveConfigDir(opts.configDir);
  const progress = buildProgress(opts.output);
  try {
    const report = await buildImage({
      configDir,
      definitionFile: opts.definitionFile,
      engine: opts.engine,
      dryRun: opts.dryRun,
      ...progress.callbacks,
    });
    progress.stop();
    printReport(report, opts.output);
  } catch (error) {
    progress.stop();
    reportBuildFailure(error);
  }
}

/** The step lines on stderr and, on a terminal, a bar per long step: how every build shows its progress. */
export function buildProgress(output: OutputFormat) {
  const tty = process.stdout.isTTY === true && output === 'text';
  const bars = tty ? progressBars() : undefined;
  const callbacks: Pick<BuildOptions, 'onStep' | 'onProgress' | 'onNote'> = {
    onStep: (step, i, total) => {
      bars?.stop();
      process.stderr.write(`[${i + 1}/${total}] ${step.title}${step.detail ? `: ${step.detail}` : ''}\n`);
    },
    ...(bars && { onProgress: bars.update }),
    onNote: (line) => {
      bars?.stop();
      process.stderr.write(`  ${line}\n`);
    },
  };
  return { callbacks, stop: () => bars?.stop() };
}

/** An interrupted build sets the signal's exit code; any other failure is thrown on, its step said. */
export function reportBuildFailure(error: unknown): void {
  const failedStep = (error as { step?: string }).step;
  if (error instanceof Interrupted) {
    process.stderr.write(
      `build interrupted by ${error.signal} during step "${failedStep}"; mounts, loop devices and partial output removed\n`,
    );
    process.exitCode = SIGNAL_EXIT[error.signal] ?? 1;
    return;
  }
  // Failures of a step already name it (and the path); anything else gets the step said here.
  if (failedStep && !(error instanceof OperationError))
    process.stderr.write(`build failed during step "${failedStep}"\n`);
  throw error;
}

function printReport(report: BuildReport, format: OutputFormat): void {
  if (format === 'json') {
    printJson(report);
    return;
  }
  if (report.status === 'planned') {
    process.stdout.write(`${formatPlan(report.plan)}\n`);
    return;
  }
  const image = report.outputs.find((o) => o.role === 'image')!;
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  process.stdout.write(
    `${rel(image.path)}: ${formatBytes(image.bytes)}, sha256 ${image.sha256}\n` +
      `built in ${(report.durationMs / 1000).toFixed(1)} s; report: ${rel(path.join(report.buildDir!, 'report.json'))}\n`,
  );
}
