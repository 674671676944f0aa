/*
 * Shared by the QEMU end-to-end tests: the example definition in a temporary config dir with a
 * test-only check unit, built against the Debian fixture, and boots that end when the check unit has
 * printed its `OUTPOST-CHECK key=value` lines and powered the VM off.
 */
import { chmod, copyFile, cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { type BuildReport, buildImage } from '../../../src/build/build-image.ts';
import { ensureDebianBaseImage } from '../../fixtures/base-images.ts';
import { SerialVm, type SerialVmOptions, tail } from '../../support/serial-vm.ts';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const startCheckScript = path.join(import.meta.dirname, '95-start-check.sh');

export interface ExampleConfigOptions {
  /** Folder holding the check program `outpost-check` and its unit `outpost-check.service`. */
  checkDir: string;
  /** Name of the custom script that queues the check unit during first boot. */
  startCheckAs?: string;
  /** More custom scripts: file name -> content. */
  extraScripts?: Record<string, string>;
}

/**
 * Writes a config dir with the example definition, its custom/ and network/, and the check unit
 * (installed through the definition's os-files, enabled through its systemd section).
 */
export async function writeExampleConfigDir(dir: string, o: ExampleConfigOptions): Promise<void> {
  await copyExampleConfigDir(dir, (d) => d.operatingSystem.systemd.enable.push('outpost-check.service'));
  const startCheck = path.join(dir, 'custom/scripts', o.startCheckAs ?? '95-start-check.sh');
  await copyFile(startCheckScript, startCheck);
  await chmod(startCheck, 0o755);
  for (const [name, content] of Object.entries(o.extraScripts ?? {})) {
    await writeFile(path.join(dir, 'custom/scripts', name), content, { mode: 0o755 });
  }
  await mkdir(path.join(dir, 'os-files/usr/local/sbin'), { recursive: true });
  await mkdir(path.join(dir, 'os-files/etc/systemd/system'), { recursive: true });
  await copyFile(
    path.join(o.checkDir, 'outpost-check'),
    path.join(dir, 'os-files/usr/local/sbin/outpost-check'),
  );
  await chmod(path.join(dir, 'os-files/usr/local/sbin/outpost-check'), 0o755);
  await copyFile(
    path.join(o.checkDir, 'outpost-check.service'),
    path.join(dir, 'os-files/etc/systemd/system/outpost-check.service'),
  );
}

/**
 * The example definition (changed by `edit`), its custom/ and network/, and its base image (a link to the
 * Debian fixture) in `dir`. OUTPOST_E2E_BASE_IMAGE boots the example on another systemd OS image instead.
 */
// biome-ignore lint/suspicious/noExplicitAny: the definition is edited as plain YAML data
export async function copyExampleConfigDir(dir: string, edit: (definition: any) => void = () => {}) {
  const def = parse(await readFile(path.join(repoRoot, 'example.yaml'), 'utf8'));
  edit(def);
  await writeFile(path.join(dir, 'example.yaml'), stringify(def));
  await cp(path.join(repoRoot, 'custom'), path.join(dir, 'custom'), { recursive: true });
  await cp(path.join(repoRoot, 'network'), path.join(dir, 'network'), { recursive: true });
  await mkdir(path.join(dir, 'base-images'));
  const base = process.env.OUTPOST_E2E_BASE_IMAGE || (await ensureDebianBaseImage());
  await symlink(base, path.join(dir, 'base-images', def.image.baseImage));
  return def;
}

/** Builds the config dir's example definition; returns the report and the output image's path. */
export async function buildExampleImage(
  configDir: string,
  label: string,
): Promise<{ report: BuildReport; image: string }> {
  const started = performance.now();
  const report = await buildImage({
    configDir,
    definitionFile: 'example.yaml',
    env: {},
    buildRoot: path.join(configDir, '_build'),
  });
  console.log(
    `${label} build: ${((performance.now() - started) / 1000).toFixed(1)} s, engine ${report.image.engine}`,
  );
  return { report, image: path.join(configDir, 'outpost-example.raw') };
}

/** The `OUTPOST-CHECK key=value` lines of a serial log (the last value of a key wins). */
export function parseChecks(serial: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of serial.replaceAll('\r', '').matchAll(/OUTPOST-CHECK ([A-Za-z0-9_.@-]+)=(.*)$/gm)) {
    found.set(m[1]!, m[2]!.trim());
  }
  return found;
}

export interface CheckedBoot {
  serial: string;
  seconds: number;
}

/**
 * Boots until the check unit powers the VM off. A FAILED first boot ends the wait early (with the
 * serial tail) unless `expectFailure`.
 */
export async function bootUntilChecked(
  vmOptions: Omit<SerialVmOptions, 'firmware'>,
  timeoutMs: number,
  expectFailure = false,
): Promise<CheckedBoot> {
  const started = performance.now();
  const vm = new SerialVm({ ...vmOptions, firmware: 'uefi' });
  try {
    const serial = await vm.waitFor(/OUTPOST-CHECK end=1|outpost-firstboot: FAILED/, timeoutMs);
    if (!expectFailure && /outpost-firstboot: FAILED/.test(serial)) {
      await new Promise((r) => setTimeout(r, 2000));
      throw new Error(`${vmOptions.name}: first boot failed; serial tail:\n${tail(vm.serial(), 60)}`);
    }
    await vm.waitForExit(120_000);
    const seconds = (performance.now() - started) / 1000;
    console.log(`${vmOptions.name}: powered off after ${seconds.toFixed(1)} s`);
    return { serial: vm.serial().replaceAll('\r', ''), seconds };
  } finally {
    vm.kill();
  }
}
