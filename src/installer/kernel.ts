import { existsSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { OperationError } from '../common/diagnostics.ts';

/** A Linux kernel and its module tree, as unpacked by scripts/fetch-installer-kernel.sh. */
export interface InstallerKernel {
  version: string;
  vmlinuz: string;
  modulesDir: string;
}

/** Where the builder image keeps it, then the machine-wide cache; OUTPOST_INSTALLER_KERNEL overrides both. */
export const KERNEL_SEARCH_PATH = [
  '/usr/lib/outpost/installer-kernel',
  '/var/cache/outpost/installer-kernel',
];

export function locateInstallerKernel(env: NodeJS.ProcessEnv = process.env): InstallerKernel {
  const candidates = env.OUTPOST_INSTALLER_KERNEL ? [env.OUTPOST_INSTALLER_KERNEL] : KERNEL_SEARCH_PATH;
  for (const dir of candidates) {
    const current = path.join(dir, 'current');
    if (!existsSync(path.join(current, 'vmlinuz'))) continue;
    const versionDir = realpathSync(current);
    const version = path.basename(versionDir);
    const modulesDir = path.join(versionDir, 'lib/modules', version);
    if (existsSync(modulesDir) && readdirSync(modulesDir).length) {
      return { version, vmlinuz: path.join(versionDir, 'vmlinuz'), modulesDir };
    }
  }
  throw new OperationError(
    `no installer kernel in ${candidates.join(' or ')}: run scripts/fetch-installer-kernel.sh (the builder image has one)`,
  );
}
