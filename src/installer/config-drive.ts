import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/**
 * A config drive in the OpenStack layout Metal3 and Ironic use: an ISO 9660 volume labelled `config-2`
 * with `openstack/latest/meta_data.json` and, when the host has static settings, `network_data.json`
 * (nmstate YAML, as Metal3's preprovisioning network data carries it).
 */
export interface ConfigDriveContent {
  metaData: Record<string, unknown>;
  networkData?: string;
  userData?: string;
}

export const CONFIG_DRIVE_LABEL = 'config-2';

export async function writeConfigDrive(output: string, content: ConfigDriveContent): Promise<void> {
  const work = await mkdtemp(`${output}.src-`);
  const tmp = `${output}.tmp-${process.pid}`;
  try {
    const latest = path.join(work, 'openstack/latest');
    await mkdir(latest, { recursive: true });
    await writeFile(path.join(latest, 'meta_data.json'), `${JSON.stringify(content.metaData, null, 2)}\n`, {
      mode: 0o600,
    });
    if (content.networkData !== undefined)
      await writeFile(path.join(latest, 'network_data.json'), content.networkData, { mode: 0o600 });
    if (content.userData !== undefined)
      await writeFile(path.join(latest, 'user_data'), content.userData, { mode: 0o600 });
    await execa('xorriso', [
      '-as',
      'mkisofs',
      '-quiet',
      '-V',
      CONFIG_DRIVE_LABEL,
      '-r',
      '-J',
      '-o',
      tmp,
      work,
    ]);
    await rename(tmp, output);
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(tmp, { force: true });
  }
}
