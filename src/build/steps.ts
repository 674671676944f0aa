/**
 * The build as ONE table of steps. Each row says what the step is, when it applies, how the plan
 * describes it and what it does; the same table drives `--dry-run` (the plan), the progress lines
 * (`[5/15] Copy base image: ...`) and the run (build-image.ts runs the rows in order). Adding a step is
 * adding one row:
 *
 *   {
 *     id: 'my-step',                             // stable name (report, log, errors, test hooks)
 *     title: 'My step',                          // progress line and plan
 *     appliesWhen: (f) => Boolean(f.definition.kubernetes), // optional; else listed as skipped, not run
 *     describe: (f) => 'what it does for this build', // the plan line, from the inspected BuildFacts
 *     target: (b) => b.partial,                  // optional: the path it writes, named on I/O errors
 *     run: async (b) => { ... },                 // the work; state shared through the BuildRun `b`
 *   },
 *
 * Rows run in table order. `readOnly` rows also run in a dry run and must write nothing. The facts are
 * known once 'inspect' has run, and the build directory and its log exist from the first step after
 * it. The root filesystem of the copy is mounted from 'mount' to 'unmount': a step that writes into the
 * image goes between them and finds it at `b.root.mount.dir`. Anything a step acquires goes through
 * `b.stack`, so it is undone on every exit and recorded in the build journal BEFORE it exists (for the
 * next build and `outpost build --cleanup`, after a SIGKILL): `b.stack.tempFile(path)` before creating a
 * temporary file (name it after `b.partial`, so it is found by name even without the journal); loop
 * devices and mounts through image/disk.ts. test/build/crash-safety.test.ts kills the build and fills
 * its disk as each row starts, so a new row is covered there without a change; `stopPoint('<id>:<what>')`
 * adds an instant inside a step for it to add.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { rename, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Bundle, FirstBootEngine } from '../bundle/bundle.ts';
import type { BundleContribution } from '../bundle/types.ts';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { readImageSignature } from '../definition/checks/image-signature.ts';
import type { LoadedDefinition } from '../definition/types.ts';
import {
  addKernelArgs,
  BOOT_CONFIG_SEARCHED,
  describeBootConfigs,
  findBootConfigs,
} from '../image/boot-config.ts';
import type { CleanupStack } from '../image/cleanup.ts';
import {
  fsyncDir,
  fsyncFile,
  hashFile,
  hashFileInBackground,
  type Progress,
  sparseCopy,
} from '../image/copy.ts';
import { type Log, run, silentLog } from '../image/exec.ts';
import { relabelFstab } from '../image/fstab.ts';
import { processIdentity } from '../image/journal.ts';
import { unsafeKernelArg } from '../image/kernel-args.ts';
import { describeOs, detectEngine } from '../image/os-release.ts';
import { lastPartition } from '../image/partition-table.ts';
import { growExt4Offline, growFilesystemOnline, growImageFile, growPartitionToEnd } from '../image/resize.ts';
import {
  btrfsReadOnly,
  labelFilesystem,
  type OpenRoot,
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
import { bundledClusterToken } from '../kubernetes/contributor.ts';
import { assembleBundle } from './assemble-bundle.ts';
import { buildLog, createBuildDir, naming, redactor, writeRenderedBundle } from './build-dir.ts';
import { cachedSha256, hashCacheTemp, rememberSha256 } from './hash-cache.ts';
import { loadDefinition } from './load-definition.ts';
import type { BuildFacts, StepDefinition } from './plan.ts';
import { reclaimLeftovers } from './reclaim.ts';
import { formatBytes, planSize } from './sizing.ts';
import { stopPoint } from './test-stop.ts';

export const COMBUSTION_LABEL = 'INSTALL';

export interface BuildOptions {
  configDir: string;
  definitionFile: string;
  env?: Record<string, string | undefined>;
  engine?: FirstBootEngine | 'auto';
  dryRun?: boolean;
  /** Where build directories go; default `<configDir>/_build`. */
  buildRoot?: string;
  /** Called when a step starts (for a dry run, only the steps that run). */
  onStep?: (step: { id: string; title: string; detail: string }, index: number, total: number) => void;
  /** Byte progress of the long steps (copy, checksum). */
  onProgress?: (step: 'copy' | 'checksum', done: number, total: number) => void;
  /** A line for the user while a step runs (what was reclaimed from builds that died). */
  onNote?: (line: string) => void;
  /**
   * Content a caller adds to the first-boot bundle next to what the definition asks for (files, scripts
   * in their bands, artefacts), e.g. the management appliance's service; built by the same steps.
   */
  contributions?: readonly BundleContribution[];
  /** Build this image type instead of the definition's `image.imageType`, under this output name. */
  imageTypeOverride?: { imageType: 'raw' | 'iso'; outputImageName: string };
}

/**
 * Where each build records what it holds (journal.ts). Machine-wide, like the loop devices and mounts it
 * records, and in /run, which starts empty at every boot as loop devices and mounts do; the temporary
 * files a build makes next to its output carry its PID in their name, so they are found without it.
 * `OUTPOST_TEST_JOURNAL_DIR`, a test hook, gives a test's builds a journal dir of their own: every build
 * reclaims the dead builds it finds there, so on a machine running other builds at the same time one of
 * those could reclaim (and report) what a build the test killed left before the test's reclaimer does.
 */
export const BUILD_JOURNAL_DIR = process.env.OUTPOST_TEST_JOURNAL_DIR || '/run/outpost/builds';

export interface FileRecord {
  role: string;
  path: string;
  bytes: number;
  sha256: string;
  /** The hash was remembered from an earlier build of the unchanged file. */
  cached?: boolean;
}

const sha256Text = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`internal: ${what} is not known yet at this step`);
  return value;
}

/** The state of one build, filled in step by step. */
export class BuildRun {
  readonly configDir: string;
  readonly buildRoot: string;
  log: Log = silentLog;
  redact: (text: string) => string = (t) => t;
  buildDir?: string;
  #loaded?: LoadedDefinition;
  #facts?: BuildFacts;
  #bundle?: Bundle;
  #root?: OpenRoot & { restoreReadOnly: () => Promise<void> };
  baseHash?: Promise<string>;
  knownBaseHash?: string;
  inputs: FileRecord[] = [];
  outputs: FileRecord[] = [];
  kernelArgFiles: string[] = [];
  /** What this build reclaimed from builds that died. */
  reclaimed: string[] = [];
  sha256?: string;
  /** Writes report.json; set by the driver, called by 'publish' before the image appears. */
  writeReport: () => void = () => {};

  readonly options: BuildOptions;
  readonly stack: CleanupStack;
  readonly started: Date;

  constructor(options: BuildOptions, stack: CleanupStack, started: Date) {
    this.options = options;
    this.stack = stack;
    this.started = started;
    this.configDir = path.resolve(options.configDir);
    this.buildRoot = options.buildRoot ?? path.join(this.configDir, '_build');
  }

  get loaded(): LoadedDefinition {
    return need(this.#loaded, 'the definition');
  }
  set loaded(value: LoadedDefinition) {
    this.#loaded = value;
    this.redact = redactor(value.secrets);
  }
  get facts(): BuildFacts {
    return need(this.#facts, 'the base image');
  }
  get factsIfKnown(): BuildFacts | undefined {
    return this.#facts;
  }
  get bundle(): Bundle {
    return need(this.#bundle, 'the bundle');
  }
  get root(): OpenRoot & { restoreReadOnly: () => Promise<void> } {
    return need(this.#root, 'the mounted root filesystem');
  }
  setInspection(facts: BuildFacts, bundle: Bundle): void {
    this.#facts = facts;
    this.#bundle = bundle;
  }
  setRoot(root: OpenRoot & { restoreReadOnly: () => Promise<void> }): void {
    this.#root = root;
  }

  get basePath(): string {
    return path.join(this.configDir, 'base-images', this.loaded.definition.image.baseImage);
  }
  get outputPath(): string {
    return path.join(this.configDir, this.loaded.definition.image.outputImageName);
  }
  /** The image under construction: hidden, next to the output, named after this process. */
  get partial(): string {
    return partialPath(this.outputPath, process.pid);
  }
  get checksumPath(): string {
    return `${this.outputPath}.sha256`;
  }
  get hashCache(): string {
    return path.join(this.buildRoot, 'cache', 'sha256.json');
  }

  /** The build directory and its log; opened by the first step that writes. */
  openBuildDir(): void {
    if (this.buildDir) return;
    this.buildDir = createBuildDir(this.buildRoot, this.started);
    this.log = buildLog(this.buildDir, this.redact);
    this.log(`outpost build of ${this.loaded.file} into ${this.outputPath}`);
    for (const line of this.reclaimed) this.log(`reclaimed: ${line}`);
  }

  progress(id: 'copy' | 'checksum'): Progress | undefined {
    const report = this.options.onProgress;
    return report ? (done, total) => report(id, done, total) : undefined;
  }
}

/**
 * Every temporary file a build makes next to its output starts with this name, so the files of a build
 * that died can be recognised (and reclaimed) even without its journal.
 */
export function partialPath(outputPath: string, pid: number): string {
  return path.join(path.dirname(outputPath), `.${path.basename(outputPath)}.partial-${pid}`);
}

const rootDescription = (f: BuildFacts) =>
  `partition ${f.root.partition.number} (${f.root.fs.type}${f.root.fs.label ? `, label ${f.root.fs.label}` : ''})`;

export const BUILD_STEPS: readonly StepDefinition<BuildRun>[] = [
  {
    id: 'load',
    title: 'Load definition',
    readOnly: true,
    describe: (f) => f.definitionFile,
    run: async (b) => {
      b.loaded = withOverride(await loadChecked(b.configDir, b.options), b.options);
      checkPaths(b.basePath, b.outputPath);
    },
  },
  {
    id: 'reclaim',
    title: 'Reclaim leftovers',
    describe: () =>
      `of builds that died: loop devices, mounts, processes and temporary files in ${BUILD_JOURNAL_DIR} and next to the output`,
    run: (b) => reclaimStep(b),
  },
  {
    id: 'inspect',
    title: 'Inspect base image',
    readOnly: true,
    describe: (f) =>
      `${f.basePath}: ${f.partitionScheme.toUpperCase()}, root ${rootDescription(f)}, ${f.osName}`,
    run: (b) => inspect(b),
  },
  {
    id: 'bundle',
    title: 'First-boot bundle',
    describe: (f) =>
      `${f.bundle.files} files, ${f.bundle.artefacts} artefacts, ${formatBytes(f.bundle.payloadBytes)}, digest ${f.bundle.digest.slice(0, 12)}`,
    target: (b) => b.buildDir && path.join(b.buildDir, 'bundle'),
    run: (b) => {
      writeRenderedBundle(path.join(b.buildDir!, 'bundle'), b.bundle, b.redact);
      keepClusterToken(b.buildDir!, b.bundle);
    },
  },
  {
    id: 'space',
    title: 'Check free space',
    describe: (f) => `next to ${f.outputPath}`,
    target: (b) => path.dirname(b.outputPath),
    run: (b) => checkFreeSpace(b.basePath, b.outputPath, b.facts),
  },
  {
    id: 'copy',
    title: 'Copy base image',
    describe: () => 'sparse copy (cp --sparse=always) to a temporary name; the base is hashed meanwhile',
    target: (b) => b.partial,
    run: (b) => copyBase(b),
  },
  {
    id: 'grow',
    title: 'Size image',
    describe: (f) =>
      f.sizing.targetSize === f.baseSize
        ? `keep ${formatBytes(f.baseSize)}: ${f.sizing.reason}`
        : `${formatBytes(f.baseSize)} -> ${formatBytes(f.sizing.targetSize)} (${f.sizing.reason})` +
          (f.sizing.growRoot
            ? `; grow ${rootDescription(f)} and its filesystem`
            : '; the root partition is not last: first boot grows what it can'),
    target: (b) => b.partial,
    run: (b) => growCopy(b.partial, b.facts, b.log),
  },
  {
    id: 'mount',
    title: 'Mount root filesystem',
    describe: (f) =>
      `loop device at byte ${f.root.partition.start}${f.root.readOnlySubvolume ? '; clear the read-only property of the default subvolume' : ''}`,
    target: (b) => b.partial,
    run: async (b) => b.setRoot(await mountCopy(b.stack, b.partial, b.facts, b.log)),
  },
  {
    id: 'write-bundle',
    title: 'Write bundle',
    describe: () => '/combustion and /artefacts',
    target: (b) => `${b.partial} (root filesystem mounted at ${b.root.mount.dir})`,
    run: (b) => writeBundle(b.root.mount.dir, b.bundle),
  },
  {
    id: 'engine',
    title: 'First-boot engine',
    describe: (f) =>
      `${
        f.engine === 'combustion'
          ? 'combustion: label the root filesystem INSTALL'
          : 'systemd: install and enable outpost-firstboot.service'
      } (${f.engineSource})`,
    target: (b) => `${b.partial} (root filesystem mounted at ${b.root.mount.dir})`,
    run: (b) => applyEngine(b.root.mount.dir, b.facts, b.bundle),
  },
  {
    id: 'kernel-args',
    title: 'Kernel arguments',
    describe: (f) =>
      f.kernelArgs.length
        ? `${f.kernelArgs.join(' ')} -> ${describeBootConfigs(f.bootConfigs)}`
        : 'none requested',
    target: (b) => `${b.partial} (root filesystem mounted at ${b.root.mount.dir})`,
    run: async (b) => {
      b.kernelArgFiles = await applyKernelArgs(b.root.mount.dir, b.partial, b.facts, b.log);
    },
  },
  {
    id: 'unmount',
    title: 'Unmount',
    describe: (f) =>
      `${f.root.readOnlySubvolume ? 'restore the read-only property, ' : ''}unmount, detach the loop device`,
    target: (b) => b.partial,
    run: async (b) => {
      const root = b.root;
      // A write the loop device could not store (its backing file on a full disk) fails late, in the
      // kernel's writeback: syncfs makes it fail here, before the image can be published.
      await run('sync', ['--file-system', root.mount.dir], { log: b.log });
      await root.restoreReadOnly();
      await root.mount.unmount();
      if (b.facts.engine === 'combustion')
        await labelFilesystem(b.facts.root.fs.type, root.device, COMBUSTION_LABEL, b.log);
      await root.detach();
    },
  },
  {
    id: 'installer-iso',
    title: 'Self-installing ISO',
    appliesWhen: (f) => f.output.type === 'iso',
    describe: (f) =>
      f.output.type === 'iso'
        ? `wrap the raw image in a UEFI+BIOS installer ISO that writes it to ${f.output.installDevice ?? 'the only disk that can take it'}`
        : 'raw output',
    target: (b) => `${b.partial}.iso`,
    run: (b) => wrapInInstallerIso(b),
  },
  {
    id: 'checksum',
    title: 'Checksum',
    describe: () => 'sha256 of the output image',
    target: (b) => b.partial,
    run: (b) => checksum(b),
  },
  {
    id: 'publish',
    title: 'Publish',
    describe: (f) =>
      `${f.outputPath}.sha256 first, then the image renamed to ${f.outputPath} last (fsynced, with the directory)`,
    target: (b) => b.outputPath,
    run: (b) => publishStep(b),
  },
];

async function loadChecked(configDir: string, options: BuildOptions): Promise<LoadedDefinition> {
  const { loaded, diagnostics } = await loadDefinition({
    configDir,
    definitionFile: options.definitionFile,
    env: options.env ?? process.env,
  });
  if (!loaded) throw new InputError(`the image definition has ${diagnostics.length} problem(s)`, diagnostics);
  const d = loaded.definition;
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

/** The definition as this build makes it: another image type and output name when the caller asks. */
function withOverride(loaded: LoadedDefinition, options: BuildOptions): LoadedDefinition {
  const override = options.imageTypeOverride;
  if (!override) return loaded;
  const name = override.outputImageName;
  if (!/^[A-Za-z0-9._+@-]+(\/[A-Za-z0-9._+@-]+)*$/.test(name) || name.split('/').includes('..')) {
    throw new InputError(
      `output image name ${JSON.stringify(name)}: letters, digits, ".", "_", "-", "+", "@" only`,
    );
  }
  const image = { ...loaded.definition.image, imageType: override.imageType, outputImageName: name };
  return { ...loaded, definition: { ...loaded.definition, image } };
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

async function inspect(b: BuildRun): Promise<void> {
  const { loaded, basePath, options } = b;
  const root = await openRootFilesystem(b.stack, basePath, { readOnly: true });
  stopPoint('inspect:mounted');
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
    const bundle = await assembleBundle(loaded, {
      engine,
      env: options.env,
      extra: options.contributions ?? [],
    });
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
      definition: loaded.definition,
      basePath,
      baseSize,
      outputPath: b.outputPath,
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
    b.setInspection(facts, bundle);
  } finally {
    await root.close();
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

/** The copy; the base image's hash (only for the report) runs on another core until 'checksum'. */
async function copyBase(b: BuildRun): Promise<void> {
  const { stack, partial, basePath } = b;
  b.inputs.push({
    role: 'definition',
    path: b.loaded.file,
    bytes: statSync(b.loaded.file).size,
    sha256: sha256Text(readFileSync(b.loaded.file)),
  });
  stack.tempFile(partial);
  await rm(partial, { force: true });
  b.knownBaseHash = cachedSha256(b.hashCache, basePath);
  if (b.knownBaseHash) {
    b.baseHash = Promise.resolve(b.knownBaseHash);
  } else {
    const hashing = hashFileInBackground(basePath);
    stack.push('stop hashing the base image', () => hashing.terminate().then());
    b.baseHash = hashing.digest;
  }
  await sparseCopy(basePath, partial, {
    signal: stack.signal,
    onProgress: b.progress('copy'),
    onStarted: (pid) => {
      const start = processIdentity(pid)?.start;
      const held = start ? stack.hold({ kind: 'process', pid, start, command: 'cp' }) : undefined;
      stopPoint('copy:running');
      return () => held?.release();
    },
  });
  for (const a of b.bundle.artefacts) {
    b.inputs.push({
      role: 'artefact',
      path: a.source,
      bytes: statSync(a.source).size,
      sha256: await hashFile(a.source),
    });
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

/**
 * Replaces the built raw image at `partial` by outpost's self-installing ISO carrying it (its data ranges
 * and block map). The installer writes to isoConfiguration.installDevice, or to the only disk that can take
 * the image — with several candidates it stops and asks for installDevice rather than guess.
 */
async function wrapInInstallerIso(b: BuildRun) {
  const { partial, facts } = b;
  const base = await prepareInstallerBase(locateInstallerKernel(), path.join(b.buildRoot, 'cache'));
  const imageMap = await computeImageMap(partial);
  const iso = `${partial}.iso`;
  const removeIso = b.stack.tempFile(iso);
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
    await removeIso();
  }
}

async function checksum(b: BuildRun): Promise<void> {
  b.sha256 = await hashFile(b.partial, { signal: b.stack.signal, onProgress: b.progress('checksum') });
  const base = await need(b.baseHash, 'the base image hash');
  if (!b.knownBaseHash) {
    const removeTemp = b.stack.tempFile(hashCacheTemp(b.hashCache));
    const failed = rememberSha256(b.hashCache, b.basePath, base);
    if (failed) b.log(`the base image's hash is not remembered for the next build: ${failed.message}`);
    await removeTemp();
  }
  b.inputs.push({
    role: 'base-image',
    path: b.basePath,
    bytes: b.facts.baseSize,
    sha256: base,
    cached: !!b.knownBaseHash,
  });
}

async function publishStep(b: BuildRun): Promise<void> {
  const sha256 = need(b.sha256, 'the checksum');
  const line = `${sha256}  ${path.basename(b.outputPath)}\n`;
  b.outputs = [
    { role: 'image', path: b.outputPath, bytes: statSync(b.partial).size, sha256 },
    { role: 'checksum', path: b.checksumPath, bytes: Buffer.byteLength(line), sha256: sha256Text(line) },
  ];
  // The report first: a published image always has one.
  b.writeReport();
  await publish(b, line);
}

/**
 * Publishes the image with its checksum so that no reader, and no crash, ever sees an image under the
 * final name without its checksum beside it:
 *   1. the checksum goes to a temporary file; it and the image are fsynced;
 *   2. an older image under the final name is removed (its checksum may stay a moment: a checksum
 *      without an image is harmless, an image without its checksum is not);
 *   3. the checksum is renamed to NAME.sha256, the directory fsynced;
 *   4. the image is renamed to NAME, LAST, and the directory fsynced.
 * A crash between 2 and 4 leaves NAME.sha256 without NAME: the journal records it as a file to remove
 * unless NAME exists, so the next build or `--cleanup` removes it.
 */
async function publish(b: BuildRun, checksumLine: string): Promise<void> {
  const { stack, partial, outputPath, checksumPath } = b;
  const dir = path.dirname(outputPath);
  const tmp = `${partial}.sha256`;
  const removeTmp = stack.tempFile(tmp);
  naming(tmp, () => writeFileSync(tmp, checksumLine));
  await fsyncFile(tmp);
  await fsyncFile(partial);
  stopPoint('publish:synced');
  stack.tempFile(checksumPath, { unlessExists: outputPath });
  await rm(outputPath, { force: true });
  stopPoint('publish:old-removed');
  await rename(tmp, checksumPath);
  await removeTmp();
  await fsyncDir(dir);
  stopPoint('publish:checksum');
  await rename(partial, outputPath);
  await fsyncDir(dir);
}

/** Undoes what dead builds left: everything their journals hold, then stray files next to the output. */
async function reclaimStep(b: BuildRun): Promise<void> {
  const result = await reclaimLeftovers(BUILD_JOURNAL_DIR, [path.dirname(b.outputPath)]);
  for (const line of result.undone) {
    b.reclaimed.push(line); // logged once the build directory exists
    b.options.onNote?.(`reclaimed: ${line}`);
  }
  // What cannot be undone now (a mount kept busy by someone else) stays recorded and is retried by the
  // next build or --cleanup; it must not stop this build.
  for (const line of result.problems) b.options.onNote?.(`cannot reclaim (will retry): ${line}`);
}

/** The RKE2 cluster token, 0600 in the build directory: the only copy outside the image (never logged). */
function keepClusterToken(buildDir: string, bundle: Bundle): void {
  const token = bundledClusterToken(bundle.files);
  if (token) writeFileSync(path.join(buildDir, 'kubernetes-token'), `${token}\n`, { mode: 0o600 });
}
