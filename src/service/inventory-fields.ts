import type { YamlCursor } from '../common/yaml-cursor.ts';
import { parseHostFile } from '../network/parse.ts';
import { parseBmcAddress } from '../redfish/bmc-address.ts';
import type { InventoryHost } from './types.ts';

/** Field readers shared by the outpost and Metal3 inventory formats. */

/** Positions of each host's fields, so cross-host checks can point at the right line. */
export const hostCursors = new WeakMap<
  InventoryHost,
  { name: YamlCursor; mac: YamlCursor; address: YamlCursor }
>();

export function rememberCursors(
  host: InventoryHost,
  cursors: { name: YamlCursor; mac: YamlCursor; address: YamlCursor },
): void {
  hostCursors.set(host, cursors);
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

export function readHostName(cursor: YamlCursor): string | undefined {
  const name = cursor.string({ required: true, env: false });
  if (name === undefined) return undefined;
  if (name.length > 253 || !NAME.test(name)) {
    cursor.error(
      `'${name}' is not a valid host name (lower-case letters, digits, '-' and '.', like a Kubernetes name)`,
    );
    return undefined;
  }
  return name;
}

export function readBmcAddress(cursor: YamlCursor): string | undefined {
  const address = cursor.string({ required: true });
  if (address === undefined) return undefined;
  const parsed = parseBmcAddress(address);
  if (!parsed.ok) {
    cursor.error(parsed.error);
    return undefined;
  }
  return address.trim();
}

/**
 * What identifies the machine behind a BMC address: its host (as the URL parser normalises it), its port
 * (the transport's default when none is written) and the System path. The scheme is not part of it:
 * `redfish+https://h/...` and `idrac-virtualmedia://h:443/...` drive the same machine.
 */
export function bmcIdentity(address: string): string {
  const parsed = parseBmcAddress(address);
  if (!parsed.ok) return address.trim();
  const { host, port, transport, systemPath } = parsed.value;
  return `${host.toLowerCase()}:${port ?? (transport === 'https' ? 443 : 80)}${systemPath ?? ''}`;
}

export function readMac(cursor: YamlCursor): string | undefined {
  const mac = cursor.string();
  if (mac === undefined) return undefined;
  if (!MAC.test(mac)) {
    cursor.error(`'${mac}' is not a MAC address (expected six hex pairs, e.g. 52:54:00:12:34:56)`);
    return undefined;
  }
  return mac.toLowerCase();
}

const ROOT_DEVICE_HINTS: Record<string, 'string' | 'integer' | 'boolean'> = {
  deviceName: 'string',
  hctl: 'string',
  model: 'string',
  vendor: 'string',
  serialNumber: 'string',
  minSizeGigabytes: 'integer',
  wwn: 'string',
  wwnWithExtension: 'string',
  wwnVendorExtension: 'string',
  rotational: 'boolean',
};

/** Metal3's rootDeviceHints, same field names and types. */
export function readRootDeviceHints(
  cursor: YamlCursor,
): Record<string, string | number | boolean> | undefined {
  if (!cursor.present) return undefined;
  const hints: Record<string, string | number | boolean> = {};
  for (const key of cursor.keys(Object.keys(ROOT_DEVICE_HINTS))) {
    const type = ROOT_DEVICE_HINTS[key];
    const field = cursor.get(key);
    const value =
      type === 'integer' ? field.integer({ min: 0 }) : type === 'boolean' ? field.boolean() : field.string();
    if (value !== undefined) hints[key] = value;
  }
  return hints;
}

/**
 * nmstate YAML, checked by the same parser as a definition's `network/` host files (one rule for what a
 * valid host network is). Kept as text so it reaches the host as written. Problems point into the file
 * where the YAML is written: `file` for a networkDataFile, else the inventory itself (`at` is where the
 * text starts there: a block string's first line), else the field that holds it.
 */
export function checkNetworkData(
  cursor: YamlCursor,
  text: string,
  origin: string,
  at?: { file: string; line: number; col: number },
): string | undefined {
  const parsed = parseHostFile(at?.file ?? origin, text);
  for (const d of parsed.diagnostics) {
    if (at) {
      const lineShift = at.line - 1;
      const colShift = at.col - 1;
      cursor.source.diagnostics.push({
        ...d,
        file: at.file,
        line: d.line + lineShift,
        col: d.col + colShift,
        // Inside the inventory the field's path leads to it; a file of its own has its own paths.
        path: at.file === cursor.source.file ? [cursor.path, d.path].filter(Boolean).join('.') : d.path,
      });
    } else
      cursor.error(`network data (${origin}) line ${d.line}: ${d.path ? `${d.path}: ` : ''}${d.message}`);
  }
  return parsed.state ? text : undefined;
}

/**
 * nmstate written inline as YAML under `networkData:`: checked where it stands in the inventory (positions
 * are the inventory's), returned as written.
 */
export function readInlineNetworkData(cursor: YamlCursor): string | undefined {
  const range = cursor.node?.range;
  if (!range) return undefined;
  const [line, col] = cursor.position();
  const source = cursor.source.text.slice(range[0], range[1]);
  // Padded to its column (later lines keep theirs); lines are shifted afterwards, not padded, so checking
  // every host's network data stays linear in the inventory's size.
  const parsed = parseHostFile(cursor.source.file, `${' '.repeat(col - 1)}${source}`);
  for (const d of parsed.diagnostics) {
    cursor.source.diagnostics.push({
      ...d,
      line: d.line + line - 1,
      path: [cursor.path, d.path].filter(Boolean).join('.'),
    });
  }
  if (!parsed.state) return undefined;
  // The same text, without the indentation it had in the inventory.
  const indent = ' '.repeat(col - 1);
  const lines = source.split('\n').map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l));
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Where a block string's content starts in its file (the line after `|`, at its indentation). */
export function blockStart(cursor: YamlCursor): { file: string; line: number; col: number } | undefined {
  const node = cursor.node;
  if (!node || !('type' in node) || (node.type !== 'BLOCK_LITERAL' && node.type !== 'BLOCK_FOLDED')) {
    return undefined;
  }
  const [line] = cursor.position();
  const body = cursor.source.sourceText(node).split('\n').slice(1);
  const first = body.find((l) => l.trim() !== '') ?? '';
  return { file: cursor.source.file, line: line + 1, col: first.length - first.trimStart().length + 1 };
}

export function readLabels(cursor: YamlCursor): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!cursor.present) return labels;
  if (!cursor.isMap) {
    cursor.error('must be a mapping of label names to values');
    return labels;
  }
  for (const key of cursor.keys([...Object.keys(cursor.toJS() as object)])) {
    const value = cursor.get(key).string({ env: false });
    if (value !== undefined) labels[key] = value;
  }
  return labels;
}
