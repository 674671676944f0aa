import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Diagnostic } from '../common/diagnostics.ts';
import type { HostFileInput } from './generate.ts';

export const NETWORK_DIR = 'network';
/** EIB: when present in `network/`, this script replaces generation and is run at first boot instead. */
export const CUSTOM_SCRIPT = 'configure-network.sh';

export interface NetworkDirectory {
  hostFiles: HostFileInput[];
  /** Absolute path of `network/configure-network.sh`, when present. */
  customScript: string | undefined;
  /** Files that are neither host files nor the custom script. */
  problems: Diagnostic[];
}

/**
 * Reads `network/` of a config dir: `<hostname>.yaml` (or `.yml`) host files, `_all.yaml`, and
 * `configure-network.sh`. A missing folder means no network configuration.
 * `display` turns a path relative to the config dir into the path printed in diagnostics.
 */
export async function readNetworkDirectory(
  configDir: string,
  display: (relative: string) => string = (r) => path.join(configDir, r),
): Promise<NetworkDirectory> {
  const dir = path.join(configDir, NETWORK_DIR);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { hostFiles: [], customScript: undefined, problems: [] };
    throw err;
  }
  const result: NetworkDirectory = { hostFiles: [], customScript: undefined, problems: [] };
  for (const name of names) {
    const relative = `${NETWORK_DIR}/${name}`;
    const absolute = path.join(dir, name);
    const info = await stat(absolute);
    if (name === CUSTOM_SCRIPT && info.isFile()) {
      result.customScript = absolute;
    } else if (/\.ya?ml$/.test(name) && info.isFile()) {
      result.hostFiles.push({
        file: display(relative),
        host: name.replace(/\.ya?ml$/, ''),
        text: await readFile(absolute, 'utf8'),
      });
    } else if (!name.startsWith('.')) {
      result.problems.push({
        file: display(relative),
        line: 1,
        col: 1,
        path: '',
        message: `unexpected ${info.isDirectory() ? 'folder' : 'file'} in network/: expected <hostname>.yaml host files, _all.yaml or ${CUSTOM_SCRIPT}`,
        section: 'Network',
      });
    }
  }
  const stems = new Map<string, string>();
  for (const f of result.hostFiles) {
    const other = stems.get(f.host);
    if (other) {
      result.problems.push({
        file: f.file,
        line: 1,
        col: 1,
        path: '',
        message: `host '${f.host}' is also defined by ${other}`,
        section: 'Network',
      });
    }
    stems.set(f.host, f.file);
  }
  return result;
}
