/**
 * `outpost build`: turns a vendor raw image into a site-ready image. The base image is only ever read;
 * the output is assembled under a temporary name next to its final path and renamed when complete.
 * Every mount and loop device sits on a cleanup stack that unwinds on success, error and SIGINT/SIGTERM.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { rename, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { assembleBundle } from '../bundle/assemble.ts';
import type { Bundle, FirstBootEngine } from '../bundle/bundle.ts';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { redactValues } from '../common/redact.ts';
import { readImageSignature } from '../definition/checks/image-signature.ts';
import { loadDefinition } from '../definition/load.ts';
import type { LoadedDefinition } from '../definition/types.ts';
import {
  addKernelArgs,
  BOOT_CONFIG_SEARCHED,
  type BootConfig,
  findBootConfigs,
} from '../image/boot-config.ts';
import { type CleanupStack, withCleanup } from '../image/cleanup.ts';
import { fsyncFile, hashFile, hashFileInBackground, type Progress, sparseCopy } from '../image/copy.ts';
import { type Log, silentLog } from '../image/exec.ts';
import { relabelFstab } from '../image/fstab.ts';
import { unsafeKernelArg } from '../image/kernel-args.ts';
import { describeOs, detectEngine } from '../image/os-release.ts';
import { lastPartition } from '../image/partition-table.ts';
import { growExt4Offline, growFilesystemOnline, growImageFile, growPartitionToEnd } from '../image/resize.ts';
import {
  btrfsReadOnly,
  labelFilesystem,
  openCandidate,
  openRootFilesystem,
  scanImage,
  setBtrfsReadOnly,
} from '../image/root-fs.ts';
import { resolveInRoot } from '../image/root-path.ts';
import { bundlePayloadBytes, installAndEnableUnit, writeBundle } from '../image/write-bundle.ts';
import { computeImageMap } from '../installer/image-map.ts';
import { buildInstallerIso, prepareInstallerBase } from '../installer/iso.ts';
import { locateInstallerKernel } from '../installer/kernel.ts';
import { buildLog, createBuildDir, redactor, writeRenderedBundle } from './build-dir.ts';
import { cachedSha256, rememberSha256 } from './hash-cache.ts';
import { type BuildFacts, type PlanStep, planBuild, STEP_IDS, STEP_TITLES, type StepId } from './plan.ts';
import { planSize } from './sizing.ts';

export const COMBUSTION_LABEL = 'INSTALL';

export interface BuildOptions {
  configDir: string;
  definitionFile: string;
  env?: Record<string, string | undefined>;
  engine?: FirstBootEngine | 'auto';
  dryRun?: boolean;
  /** Where build directories go; default `<configDir>/_build`. */
  buildRoot?: string;
  /** Called when a step starts (not for dry runs' later steps). */
  onStep?: (step: PlanStep, index: number, total: number) => void;
  /** Byte progress of the long steps (copy, checksum). */
  onProgress?: (step: 'copy' | 'checksum', done: number, total: number) => void;
}

export interface FileRecord {
  role: string;
  path: string;
  bytes: number;
  sha256: string;
  /** The hash was remembered from an earlier build of the unchanged file. */
  cached?: boolean;
}

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

interface Inspection {
  facts: BuildFacts;
  loaded: LoadedDefinition;
  bundle: Bundle;
}

const sha256Text = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

export async function buildImage(options: BuildOptions): Promise<BuildReport> {
  const started = new Date();
  const configDir = path.resolve(options.configDir);
  const timings: BuildReport['steps'] = [];
  let log: Log = silentLog;
  let plan: PlanStep[] = [];
  let current: StepId = 'load';
  const titleOf = (id: StepId) => STEP_TITLES[id];
  const step = async <T>(id: StepId, body: () => Promise<T> | T, stack?: CleanupStack): Promise<T> => {
    stack?.checkpoint();
    current = id;
    const t0 = performance.now();
    // Before the base image is inspected only the step names are known.
    const index = STEP_IDS.indexOf(id);
    options.onStep?.(plan[index] ?? { id, title: STEP_TITLES[id], detail: '' }, index, STEP_IDS.length);
    log(`== ${id}`);
    const result = await body();
    timings.push({ id, title: titleOf(id), ms: Math.round(performance.now() - t0) });
    return result;
  };

  const loaded = await step('load', () => loadChecked(configDir, options));
  const redact = redactor(loaded.secrets);
  const image = loaded.definition.image;
  const basePath = path.join(configDir, 'base-images', image.baseImage);
  const outputPath = path.join(configDir, image.outputImageName);
  checkPaths(basePath, outputPath);

  try {
    return await withCleanup(async (stack) => {
      const inspection = await step(
        'inspect',
        () => inspect(stack, loaded, basePath, outputPath, options),
        stack,
      );
      const { facts, bundle } = inspection;
      plan = planBuild(facts);
      const report = (status: BuildReport['status'], buildDir?: string): BuildReport =>
        reportOf(status, started, buildDir, loaded, inspection, plan, timings);
      if (options.dryRun) return report('planned');

      const buildDir = createBuildDir(options.buildRoot ?? path.join(configDir, '_build'), started);
      log = buildLog(buildDir, redact);
      log(`outpost build of ${loaded.file} into ${outputPath}`);
      await step('bundle', () => writeRenderedBundle(path.join(buildDir, 'bundle'), bundle, redact), stack);
      await step('space', () => checkFreeSpace(basePath, outputPath, facts), stack);

      const partial = path.join(
        path.dirname(outputPath),
        `.${path.basename(outputPath)}.partial-${process.pid}`,
      );
      const inputs: FileRecord[] = [
        {
          role: 'definition',
          path: loaded.file,
          bytes: statSync(loaded.file).size,
          sha256: sha256Text(readFileSync(loaded.file)),
        },
      ];
      // The base image's hash is only needed for the report: it runs on another core until the end,
      // unless an earlier build already hashed this very file.
      const hashCache = path.join(
        options.buildRoot ?? path.join(configDir, '_build'),
        'cache',
        'sha256.json',
      );
      const knownBaseHash = cachedSha256(hashCache, basePath);
      let baseHash: Promise<string> | undefined;
      await step(
        'copy',
        async () => {
          await rm(partial, { force: true });
          stack.push(`remove ${partial}`, () => rm(partial, { force: true }));
          if (knownBaseHash) {
            baseHash = Promise.resolve(knownBaseHash);
          } else {
            const hashing = hashFileInBackground(basePath);
            stack.push('stop hashing the base image', () => hashing.terminate().then());
            baseHash = hashing.digest;
          }
          await sparseCopy(basePath, partial, {
            signal: stack.signal,
            onProgress: progress(options, 'copy'),
          });
        },
        stack,
      );
      for (const a of bundle.artefacts) {
        inputs.push({
          role: 'artefact',
          path: a.source,
          bytes: statSync(a.source).size,
          sha256: await hashFile(a.source),
        });
      }

      await step('grow', () => growCopy(partial, facts, log), stack);
      const root = await step('mount', () => mountCopy(stack, partial, facts, log), stack);
      await step('write-bundle', () => writeBundle(root.mount.dir, bundle), stack);
      await step('engine', () => applyEngine(root.mount.dir, facts, bundle), stack);
      const kernelArgFiles = await step(
        'kernel-args',
        () => applyKernelArgs(root.mount.dir, partial, facts, log),
        stack,
      );
      await step(
        'unmount',
        async () => {
          await root.restoreReadOnly();
          await root.mount.unmount();
          if (facts.engine === 'combustion')
            await labelFilesystem(facts.root.fs.type, root.device, COMBUSTION_LABEL, log);
          await root.detach();
        },
        stack,
      );
      await step(
        'installer-iso',
        async () => {
          if (facts.output.type === 'iso') await wrapInInstallerIso(partial, facts, options, configDir);
        },
        stack,
      );
      const sha256 = await step(
        'checksum',
        async () => {
          const output = await hashFile(partial, {
            signal: stack.signal,
            onProgress: progress(options, 'checksum'),
          });
          const base = await baseHash!;
          if (!knownBaseHash) rememberSha256(hashCache, basePath, base);
          inputs.push({
            role: 'base-image',
            path: basePath,
            bytes: facts.baseSize,
            sha256: base,
            cached: !!knownBaseHash,
          });
          return output;
        },
        stack,
      );
      const outputBytes = statSync(partial).size;
      await step('publish', () => publish(partial, outputPath, sha256), stack);
      inspection.kernelArgFiles = kernelArgFiles;
      inspection.inputs = inputs;
      inspection.outputs = [
        { role: 'image', path: outputPath, bytes: outputBytes, sha256 },
        {
          role: 'checksum',
          path: `${outputPath}.sha256`,
          bytes: statSync(`${outputPath}.sha256`).size,
          sha256: sha256Text(readFileSync(`${outputPath}.sha256`)),
        },
      ];
      const done = report('succeeded', buildDir);
      writeFileSync(
        path.join(buildDir, 'report.json'),
        `${JSON.stringify(redactValues(done, loaded.secrets), null, 2)}\n`,
      );
      log('build succeeded');
      return redactValues(done, loaded.secrets);
    });
  } catch (error) {
    log(`failed during ${current}: ${error instanceof Error ? error.message : String(error)}`);
    if (error instanceof Error) (error as Error & { step?: string }).step ??= current;
    throw error;
  }
}

function progress(options: BuildOptions, id: 'copy' | 'checksum'): Progress | undefined {
  const report = options.onProgress;
  return report ? (done, total) => report(id, done, total) : undefined;
}

async function loadChecked(configDir: string, options: BuildOptions): Promise<LoadedDefinition> {
  const { loaded, diagnostics } = await loadDefinition({
    configDir,
    definitionFile: options.definitionFile,
    env: options.env ?? process.env,
  });
  if (!loaded) throw new InputError(`the image definition has ${diagnostics.length} problem(s)`, diagnostics);
  const d = loaded.definition;
  if (d.kubernetes) throw new InputError(`${loaded.file}: kubernetes: not supported by outpost yet`);
  if (
    d.image.imageType === 'iso' &&
    (await readImageSignature(path.join(configDir, 'base-images', d.image.baseImage))).iso9660
  ) {
    throw new InputError(
      `${loaded.file}: image.baseImage: an ISO base image (a vendor's self-install ISO) is not supported by outpost yet: ` +
        'give the raw image of the same OS; with imageType: iso outpost builds it and wraps it in its own installer ISO',
    );
  }
  const unsafe = d.operatingSystem.kernelArgs.filter(unsafeKernelArg);
  if (unsafe.length) {
    throw new InputError(
      `${loaded.file}: operatingSystem.kernelArgs: ${unsafe.map((a) => JSON.stringify(a)).join(', ')} ` +
        'contain characters a boot loader would interpret (spaces, quotes, $, ;)',
    );
  }
  return loaded;
}

/** The output must never be the base image, under any name (symlinks, `..`, hard links). */
export function checkPaths(basePath: string, outputPath: string): void {
  if (!existsSync(basePath)) throw new InputError(`base image ${basePath} does not exist`);
  const base = realpathSync(basePath);
  const outDir = path.dirname(outputPath);
  if (!existsSync(outDir)) throw new InputError(`output directory ${outDir} does not exist`);
  const output = existsSync(outputPath)
    ? realpathSync(outputPath)
    : path.join(realpathSync(outDir), path.basename(outputPath));
  const same =
    output === base ||
    (existsSync(output) &&
      statSync(output).ino === statSync(base).ino &&
      statSync(output).dev === statSync(base).dev);
  if (same)
    throw new InputError(
      `the output image ${outputPath} is the base image ${basePath}: refusing to overwrite it`,
    );
}

async function inspect(
  stack: CleanupStack,
  loaded: LoadedDefinition,
  basePath: string,
  outputPath: string,
  options: BuildOptions,
): Promise<Inspection & Partial<{ kernelArgFiles: string[]; inputs: FileRecord[]; outputs: FileRecord[] }>> {
  const root = await openRootFilesystem(stack, basePath, { readOnly: true });
  try {
    const os = root.osRelease!;
    const engineSource = options.engine && options.engine !== 'auto' ? 'option' : 'detected';
    const engine = engineSource === 'option' ? (options.engine as FirstBootEngine) : detectEngine(os);
    const kernelArgs = loaded.definition.operatingSystem.kernelArgs;
    const bootConfigs = await findBootConfigs({ root: root.mount.dir, image: basePath, table: root.table });
    if (kernelArgs.length && bootConfigs.length === 0) {
      throw new InputError(
        `${basePath}: cannot add kernel arguments: no boot configuration found (looked for ${BOOT_CONFIG_SEARCHED})`,
      );
    }
    const readOnlySubvolume = root.fs.type === 'btrfs' && (await btrfsReadOnly(root.mount.dir));
    const bundle = await assembleBundle(loaded, { engine });
    const payloadBytes = bundlePayloadBytes(bundle);
    const baseSize = statSync(basePath).size;
    const last = lastPartition(root.table);
    const raw = loaded.definition.operatingSystem.rawConfiguration;
    const sizing = planSize({
      baseSize,
      diskSize: raw?.diskSize,
      diskSizeText: raw?.diskSizeText,
      payloadBytes,
      rootFreeBytes: root.fs.freeBytes,
      rootGrowable: last?.number === root.partition.number,
    });
    const facts: BuildFacts = {
      definitionFile: loaded.file,
      basePath,
      baseSize,
      outputPath,
      partitionScheme: root.table.scheme,
      root: { partition: root.partition, fs: root.fs, readOnlySubvolume },
      osName: describeOs(os),
      engine,
      engineSource,
      bootConfigs,
      kernelArgs,
      sizing,
      output: {
        type: loaded.definition.image.imageType,
        ...(loaded.definition.operatingSystem.isoConfiguration?.installDevice && {
          installDevice: loaded.definition.operatingSystem.isoConfiguration.installDevice,
        }),
      },
      bundle: {
        files: bundle.files.length,
        artefacts: bundle.artefacts.length,
        payloadBytes,
        digest: bundle.digest,
      },
    };
    return { facts, loaded, bundle };
  } finally {
    await root.close();
  }
}

/**
 * Replaces the built raw image at `partial` by outpost's self-installing ISO carrying it (its data ranges
 * and block map). The installer writes to isoConfiguration.installDevice, or to the only disk that can take
 * the image — with several candidates it stops and asks for installDevice rather than guess.
 */
async function wrapInInstallerIso(
  partial: string,
  facts: BuildFacts,
  options: BuildOptions,
  configDir: string,
) {
  const cacheDir = path.join(options.buildRoot ?? path.join(configDir, '_build'), 'cache');
  const base = await prepareInstallerBase(locateInstallerKernel(), cacheDir);
  const imageMap = await computeImageMap(partial);
  const iso = `${partial}.iso`;
  try {
    await buildInstallerIso({
      base,
      output: iso,
      imageMap,
      imagePath: partial,
      settings: {
        host: path.basename(facts.outputPath),
        image: { size: imageMap.size, sha256: imageMap.sha256 },
        disk: {
          ...(facts.output.installDevice && { installDevice: facts.output.installDevice }),
          requireUnique: true,
        },
      },
    });
    await rename(iso, partial);
  } finally {
    await rm(iso, { force: true });
  }
}

async function checkFreeSpace(basePath: string, outputPath: string, facts: BuildFacts): Promise<void> {
  const allocated = statSync(basePath).blocks * 512;
  // Growing adds filesystem metadata (inode tables, bitmaps): allow 2% of the growth.
  const need =
    allocated +
    facts.bundle.payloadBytes +
    Math.ceil((facts.sizing.targetSize - facts.baseSize) * 0.02) +
    64 * 2 ** 20;
  const fs = await statfs(path.dirname(outputPath));
  const free = fs.bavail * fs.bsize;
  if (free < need) {
    throw new OperationError(
      `not enough free space in ${path.dirname(outputPath)}: ${Math.ceil(need / 2 ** 20)} MiB needed, ${Math.floor(free / 2 ** 20)} MiB available`,
    );
  }
}

async function growCopy(image: string, facts: BuildFacts, log: Log): Promise<void> {
  if (facts.sizing.targetSize === facts.baseSize) return;
  const { table } = scanImage(image);
  await growImageFile(image, table, facts.sizing.targetSize, log);
  if (facts.sizing.growRoot) await growPartitionToEnd(image, facts.root.partition.number, log);
}

async function mountCopy(stack: CleanupStack, image: string, facts: BuildFacts, log: Log) {
  const { table, filesystems } = scanImage(image);
  const partition = table.partitions.find((p) => p.number === facts.root.partition.number)!;
  const root = await openCandidate(
    stack,
    image,
    { partition, fs: filesystems.get(partition.number)! },
    {
      readOnly: false,
      log,
      beforeMount: async (device) => {
        if (facts.sizing.growRoot && facts.root.fs.type === 'ext4') await growExt4Offline(device, log);
      },
    },
  );
  let restoreReadOnly = async () => {};
  if (facts.root.readOnlySubvolume) {
    await setBtrfsReadOnly(root.mount.dir, false, log);
    restoreReadOnly = stack.push('restore the read-only property', () =>
      setBtrfsReadOnly(root.mount.dir, true, log),
    );
  }
  if (facts.sizing.growRoot && facts.root.fs.type !== 'ext4') {
    await growFilesystemOnline(facts.root.fs.type, root.mount.dir, log);
  }
  return { ...root, restoreReadOnly };
}

function applyEngine(root: string, facts: BuildFacts, bundle: Bundle): void {
  if (facts.engine === 'systemd') {
    installAndEnableUnit(root, bundle.firstbootUnit);
    return;
  }
  // The root filesystem is about to be relabelled INSTALL: mounts by its old label must keep working.
  const fstab = resolveInRoot(root, '/etc/fstab');
  if (facts.root.fs.label && existsSync(fstab)) {
    const before = readFileSync(fstab, 'utf8');
    const after = relabelFstab(before, facts.root.fs.label, facts.root.fs.uuid);
    if (after !== before) writeFileSync(fstab, after);
  }
}

async function applyKernelArgs(root: string, image: string, facts: BuildFacts, log: Log): Promise<string[]> {
  if (!facts.kernelArgs.length) return [];
  const { table } = scanImage(image);
  return addKernelArgs({ root, image, table }, facts.bootConfigs, facts.kernelArgs, log);
}

/** fsync, drop a stale checksum, rename into place, then write the checksum the same way. */
async function publish(partial: string, outputPath: string, sha256: string): Promise<void> {
  await fsyncFile(partial);
  const checksum = `${outputPath}.sha256`;
  await rm(checksum, { force: true });
  await rename(partial, outputPath);
  const tmp = `${checksum}.partial-${process.pid}`;
  writeFileSync(tmp, `${sha256}  ${path.basename(outputPath)}\n`);
  await fsyncFile(tmp);
  await rename(tmp, checksum);
}

function reportOf(
  status: BuildReport['status'],
  started: Date,
  buildDir: string | undefined,
  loaded: LoadedDefinition,
  inspection: Inspection & Partial<{ kernelArgFiles: string[]; inputs: FileRecord[]; outputs: FileRecord[] }>,
  plan: PlanStep[],
  steps: BuildReport['steps'],
): BuildReport {
  const { facts, bundle } = inspection;
  const finished = new Date();
  return {
    status,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    buildDir,
    definition: { file: loaded.file, apiVersion: loaded.definition.apiVersion },
    inputs: inspection.inputs ?? [],
    outputs: inspection.outputs ?? [],
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
      kernelArgFiles: inspection.kernelArgFiles ?? [],
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
