import type { YamlCursor } from '../common/yaml-cursor.ts';
import { YamlSource } from '../common/yaml-cursor.ts';
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

/** nmstate YAML: must parse and be a mapping; kept as text so it reaches the host as written. */
export function checkNetworkData(cursor: YamlCursor, text: string, origin: string): string | undefined {
  const nested = new YamlSource(origin, text);
  if (!nested.ok) {
    cursor.error(`network data (${origin}) is not valid YAML: ${nested.diagnostics[0]!.message}`);
    return undefined;
  }
  if (!nested.root.isMap) {
    cursor.error(`network data (${origin}) must be an nmstate mapping (interfaces, routes, dns-resolver)`);
    return undefined;
  }
  return text;
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
