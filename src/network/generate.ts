import type { Diagnostic } from '../common/diagnostics.ts';
import { isSafePathComponent } from '../common/names.ts';
import { type Keyfile, keyfileName, serializeKeyfile } from './keyfile.ts';
import type { NetworkState } from './model.ts';
import { parseHostFile } from './parse.ts';
import { type HostMapInterface, renderHost } from './render.ts';

/** A host file as read from `network/`: `<hostname>.yaml`, or `_all.yaml` for every host. */
export interface HostFileInput {
  /** Path to show in diagnostics. */
  file: string;
  /** File name without `.yaml`/`.yml`: the host name, or `_all`. */
  host: string;
  text: string;
}

export interface GeneratedHost {
  host: string;
  state: NetworkState;
  profiles: Keyfile[];
  interfaces: HostMapInterface[];
}

export interface GeneratedNetwork {
  hosts: GeneratedHost[];
  /** Relative output paths (`<host>/<id>.nmconnection`, `host_config.yaml`) and their contents. */
  files: { path: string; content: string }[];
  diagnostics: Diagnostic[];
}

/** The host name shared by every host: its profiles are used when no host-specific file matches. */
export const ALL_HOSTS = '_all';
export const HOST_MAP_FILE = 'host_config.yaml';

const HOSTNAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Host files -> keyfiles per host and the host map, or positioned diagnostics for every problem found. */
export function generateNetwork(inputs: readonly HostFileInput[]): GeneratedNetwork {
  const diagnostics: Diagnostic[] = [];
  const hosts: GeneratedHost[] = [];
  const macOwner = new Map<string, { host: string; file: string; line: number }>();
  for (const input of [...inputs].sort((a, b) => a.host.localeCompare(b.host))) {
    const parsed = parseHostFile(input.file, input.text);
    diagnostics.push(...parsed.diagnostics);
    if (input.host !== ALL_HOSTS && !HOSTNAME_RE.test(input.host)) {
      diagnostics.push(at(input.file, 1, '', `file name '${input.host}' is not a valid host name`));
    }
    if (!parsed.state) continue;
    const rendered = renderHost(input.host, parsed.state);
    const ids = new Map<string, number>();
    const idsOf = new Map(rendered.interfaces.map((i) => [i.logical_name, i.connection_ids]));
    for (const iface of parsed.state.interfaces) {
      for (const id of idsOf.get(iface.name) ?? [iface.name]) {
        // Each id becomes `<host>/<id>.nmconnection`: it must stay one plain file name.
        if (!isSafePathComponent(id)) {
          diagnostics.push(
            at(input.file, iface.line, 'interfaces', `connection id '${id}' is not a safe file name`),
          );
        }
        const clash = ids.get(id);
        if (clash !== undefined) {
          diagnostics.push(
            at(
              input.file,
              iface.line,
              'interfaces',
              `connection id '${id}' is also used by the interface at line ${clash}`,
            ),
          );
        }
        ids.set(id, iface.line);
      }
      if (!iface.macAddress || iface.type !== 'ethernet' || input.host === ALL_HOSTS) continue;
      const owner = macOwner.get(iface.macAddress);
      if (owner && owner.host !== input.host) {
        diagnostics.push(
          at(
            input.file,
            iface.line,
            'interfaces',
            `MAC address ${iface.macAddress} of '${iface.name}' is also used by host '${owner.host}' (${owner.file}:${owner.line}): first boot could not tell the hosts apart`,
          ),
        );
      } else if (owner) {
        diagnostics.push(
          at(
            input.file,
            iface.line,
            'interfaces',
            `MAC address ${iface.macAddress} is used twice in this file (line ${owner.line})`,
          ),
        );
      } else {
        macOwner.set(iface.macAddress, { host: input.host, file: input.file, line: iface.line });
      }
    }
    hosts.push({ host: input.host, state: parsed.state, ...rendered });
  }
  if (diagnostics.length) return { hosts: [], files: [], diagnostics };
  // Serialised on first use: `validate` needs the checks, not the text of every keyfile.
  let files: GeneratedNetwork['files'] | undefined;
  return {
    hosts,
    diagnostics,
    get files() {
      files ??= [
        ...hosts.flatMap((h) =>
          h.profiles.map((p) => ({ path: `${h.host}/${keyfileName(p.id)}`, content: serializeKeyfile(p) })),
        ),
        { path: HOST_MAP_FILE, content: serializeHostMap(hosts) },
      ];
      return files;
    },
  };
}

function at(file: string, line: number, path: string, message: string): Diagnostic {
  return { file, line, col: 1, path, message, section: 'Network' };
}

/**
 * nm-configurator's `host_config.yaml`, written in one fixed layout (two-space indents, one key per line)
 * because the first-boot script reads it with plain shell, not a YAML library.
 */
export function serializeHostMap(hosts: readonly Pick<GeneratedHost, 'host' | 'interfaces'>[]): string {
  const lines: string[] = [];
  for (const h of hosts) {
    lines.push(`- hostname: ${h.host}`, '  interfaces:');
    for (const i of h.interfaces) {
      lines.push(`    - logical_name: ${i.logical_name}`, '      connection_ids:');
      for (const id of i.connection_ids) lines.push(`        - ${id}`);
      if (i.mac_address) lines.push(`      mac_address: ${i.mac_address}`);
      lines.push(`      interface_type: ${i.interface_type}`);
    }
    if (!h.interfaces.length) lines[lines.length - 1] = '  interfaces: []';
  }
  return lines.length ? `${lines.join('\n')}\n` : '[]\n';
}
