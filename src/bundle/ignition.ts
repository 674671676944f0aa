import type { ImageDefinition } from '../definition/types.ts';
import type { Bundle } from './bundle.ts';
import type { BundleFile } from './types.ts';

/** Ignition spec 3.3.0: the newest Debian's Ignition 2.14 accepts, and what Flatcar/FCOS still read. */
export const IGNITION_VERSION = '3.3.0';

interface IgnitionFile {
  path: string;
  mode: number;
  overwrite: true;
  contents: { source: string };
}

/**
 * The same configuration for OSes that run Ignition instead of a first-boot script: users, groups and
 * units natively, os-files at their places, and the whole bundle under /combustion with our run-once
 * unit enabled, so growfs, network and custom scripts happen there too. Holds password hashes.
 */
export function ignitionConfig(
  def: ImageDefinition,
  bundleFiles: readonly BundleFile[],
  firstbootUnit: Bundle['firstbootUnit'],
): string {
  const os = def.operatingSystem;
  const files: IgnitionFile[] = [];
  for (const f of bundleFiles) {
    files.push(ignitionFile(`/combustion/${f.path}`, f));
    if (f.path.startsWith('os-files/')) files.push(ignitionFile(`/${f.path.slice('os-files/'.length)}`, f));
  }
  const config = {
    ignition: { version: IGNITION_VERSION },
    passwd: {
      groups: os.groups.map((g) => ({ name: g.name, ...(g.gid !== undefined && { gid: g.gid }) })),
      users: os.users.map((u) => ({
        name: u.username,
        ...(u.uid !== undefined && { uid: u.uid }),
        ...(u.encryptedPassword !== undefined && { passwordHash: u.encryptedPassword }),
        ...(u.sshKeys.length > 0 && { sshAuthorizedKeys: u.sshKeys }),
        ...(u.primaryGroup !== undefined && { primaryGroup: u.primaryGroup }),
        ...(u.secondaryGroups.length > 0 && { groups: u.secondaryGroups }),
        ...(u.createHomeDir !== true && u.username !== 'root' && { noCreateHome: true }),
      })),
    },
    storage: { files },
    systemd: {
      units: [
        ...os.systemd.enable.map((name) => ({ name: unitName(name), enabled: true })),
        ...os.systemd.disable.map((name) => ({ name: unitName(name), enabled: false, mask: true })),
        { name: firstbootUnit.name, enabled: true, contents: firstbootUnit.content },
      ],
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

function ignitionFile(path: string, f: BundleFile): IgnitionFile {
  const data = typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : Buffer.from(f.content);
  return {
    path,
    mode: f.mode,
    overwrite: true,
    contents: { source: `data:;base64,${data.toString('base64')}` },
  };
}

/** systemctl reads `sshd` as `sshd.service`; Ignition wants the suffix spelled out. */
function unitName(name: string): string {
  return /\.[a-z]+$/.test(name) ? name : `${name}.service`;
}
