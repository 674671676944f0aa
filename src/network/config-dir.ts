import path from 'node:path';
import { findInside, listInside, readTextInside } from '../common/contained-fs.ts';
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
  const result: NetworkDirectory = { hostFiles: [], customScript: undefined, problems: [] };
  const problem = (relative: string, message: string) =>
    result.problems.push({ file: display(relative), line: 1, col: 1, path: '', message, section: 'Network' });
  const listed = await listInside(configDir, NETWORK_DIR);
  if (listed.kind === 'missing') return result;
  if (listed.kind === 'problem') {
    problem(NETWORK_DIR, listed.message);
    return result;
  }
  if (listed.kind === 'not a directory') {
    problem(NETWORK_DIR, 'must be a directory of host files');
    return result;
  }
  for (const name of listed.names) {
    const relative = `${NETWORK_DIR}/${name}`;
    const found = await findInside(configDir, relative);
    if (found.kind === 'missing') continue;
    if (found.kind === 'problem') {
      problem(relative, found.message);
    } else if (name === CUSTOM_SCRIPT && found.kind === 'file') {
      result.customScript = found.real;
    } else if (/\.ya?ml$/.test(name) && found.kind === 'file') {
      const read = await readTextInside(configDir, relative);
      if (read.kind === 'text') {
        result.hostFiles.push({
          file: display(relative),
          host: name.replace(/\.ya?ml$/, ''),
          text: read.text,
        });
      } else {
        problem(relative, read.kind === 'missing' ? 'disappeared while being read' : read.message);
      }
    } else if (!name.startsWith('.')) {
      problem(
        relative,
        `unexpected ${found.kind === 'directory' ? 'folder' : 'file'} in network/: expected <hostname>.yaml host files, _all.yaml or ${CUSTOM_SCRIPT}`,
      );
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
