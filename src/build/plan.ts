/**
 * A build as a list of steps that can be printed before anything is written (`--dry-run`). Pure: the
 * facts come from reading the definition and inspecting the base image read-only.
 */
import type { FirstBootEngine } from '../bundle/bundle.ts';
import { type BootConfig, describeBootConfigs } from '../image/boot-config.ts';
import type { FilesystemInfo } from '../image/filesystem-probe.ts';
import type { Partition } from '../image/partition-table.ts';
import { formatBytes, type Sizing } from './sizing.ts';

export const STEP_IDS = [
  'load',
  'inspect',
  'bundle',
  'space',
  'copy',
  'grow',
  'mount',
  'write-bundle',
  'engine',
  'kernel-args',
  'unmount',
  'installer-iso',
  'checksum',
  'publish',
] as const;
export type StepId = (typeof STEP_IDS)[number];

export const STEP_TITLES: Record<StepId, string> = {
  load: 'Load definition',
  inspect: 'Inspect base image',
  bundle: 'First-boot bundle',
  space: 'Check free space',
  copy: 'Copy base image',
  grow: 'Size image',
  mount: 'Mount root filesystem',
  'write-bundle': 'Write bundle',
  engine: 'First-boot engine',
  'kernel-args': 'Kernel arguments',
  unmount: 'Unmount',
  'installer-iso': 'Self-installing ISO',
  checksum: 'Checksum',
  publish: 'Publish',
};

export interface PlanStep {
  id: StepId;
  title: string;
  detail: string;
}

export interface BuildFacts {
  definitionFile: string;
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

const step = (id: StepId, detail: string): PlanStep => ({ id, title: STEP_TITLES[id], detail });

export function planBuild(f: BuildFacts): PlanStep[] {
  const root = `partition ${f.root.partition.number} (${f.root.fs.type}${f.root.fs.label ? `, label ${f.root.fs.label}` : ''})`;
  const grow =
    f.sizing.targetSize === f.baseSize
      ? `keep ${formatBytes(f.baseSize)}: ${f.sizing.reason}`
      : `${formatBytes(f.baseSize)} -> ${formatBytes(f.sizing.targetSize)} (${f.sizing.reason})` +
        (f.sizing.growRoot
          ? `; grow ${root} and its filesystem`
          : '; the root partition is not last: first boot grows what it can');
  const engine =
    f.engine === 'combustion'
      ? 'combustion: label the root filesystem INSTALL'
      : 'systemd: install and enable outpost-firstboot.service';
  const steps: PlanStep[] = [
    step('load', f.definitionFile),
    step('inspect', `${f.basePath}: ${f.partitionScheme.toUpperCase()}, root ${root}, ${f.osName}`),
    step(
      'bundle',
      `${f.bundle.files} files, ${f.bundle.artefacts} artefacts, ${formatBytes(f.bundle.payloadBytes)}, digest ${f.bundle.digest.slice(0, 12)}`,
    ),
    step('space', `next to ${f.outputPath}`),
    step('copy', 'sparse copy (cp --sparse=always) to a temporary name; the base is hashed meanwhile'),
    step('grow', grow),
    step(
      'mount',
      `loop device at byte ${f.root.partition.start}${f.root.readOnlySubvolume ? '; clear the read-only property of the default subvolume' : ''}`,
    ),
    step('write-bundle', '/combustion and /artefacts'),
    step('engine', `${engine} (${f.engineSource})`),
    step(
      'kernel-args',
      f.kernelArgs.length
        ? `${f.kernelArgs.join(' ')} -> ${describeBootConfigs(f.bootConfigs)}`
        : 'none requested',
    ),
    step(
      'unmount',
      `${f.root.readOnlySubvolume ? 'restore the read-only property, ' : ''}unmount, detach the loop device`,
    ),
    step(
      'installer-iso',
      f.output.type === 'iso'
        ? `wrap the raw image in a UEFI+BIOS installer ISO that writes it to ${f.output.installDevice ?? 'the only disk that can take it'}`
        : 'raw output: nothing to do',
    ),
    step('checksum', 'sha256 of the output image'),
    step('publish', `fsync, rename to ${f.outputPath}, write ${f.outputPath}.sha256`),
  ];
  return steps;
}

export function formatPlan(steps: readonly PlanStep[]): string {
  const width = Math.max(...steps.map((s) => s.title.length));
  return steps
    .map((s, i) => `${String(i + 1).padStart(2)}. ${s.title.padEnd(width)}  ${s.detail}`)
    .join('\n');
}
