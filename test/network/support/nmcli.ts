import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

export type ParsedKeyfile = Map<string, Map<string, string>>;

/** GKeyFile text -> section -> key -> value (spaces around `=` allowed, as GLib does). */
export function parseKeyfile(text: string): ParsedKeyfile {
  const result: ParsedKeyfile = new Map();
  let section: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) {
      section = result.get(header[1]!) ?? new Map();
      result.set(header[1]!, section);
      continue;
    }
    const kv = /^([^=#;\s][^=]*?)\s*=\s*(.*)$/.exec(line);
    if (kv && section) section.set(kv[1]!, kv[2]!);
  }
  return result;
}

/**
 * NetworkManager's own reading and rewriting of a keyfile (`nmcli --offline`): canonical spelling,
 * defaults removed. Throws with NetworkManager's message when it rejects the profile.
 */
export async function normaliseKeyfile(text: string): Promise<string> {
  const r = await execa(
    'nmcli',
    ['--offline', 'connection', 'modify', 'connection.autoconnect-priority', '0'],
    {
      input: text,
      reject: false,
    },
  );
  if (r.exitCode !== 0) throw new Error(`nmcli rejected the profile: ${r.stderr || r.stdout}\n${text}`);
  return r.stdout;
}

/** Normalised text without the lines that legitimately differ between generators (the UUIDs). */
export function withoutUuid(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^uuid\s*=/.test(l))
    .join('\n');
}

/**
 * NetworkManager defaults: the normaliser leaves these out because they equal the default, not because
 * they are invalid. Each comes with a different valid value that the normaliser must keep, which proves
 * the key itself is understood (`nmcli --offline` drops unknown keys and invalid values silently).
 */
export const NM_DEFAULTS: { section: string; key: string; value: string; other: string }[] = [
  { section: 'connection', key: 'autoconnect', value: 'true', other: 'false' },
  { section: 'connection', key: 'autoconnect-slaves', value: '-1', other: '1' },
  { section: 'ethernet', key: 'auto-negotiate', value: 'false', other: 'true' },
  { section: 'ipv4', key: 'dhcp-send-hostname', value: 'true', other: 'false' },
  { section: 'ipv4', key: 'ignore-auto-dns', value: 'false', other: 'true' },
  { section: 'ipv4', key: 'ignore-auto-routes', value: 'false', other: 'true' },
  { section: 'ipv4', key: 'never-default', value: 'false', other: 'true' },
  { section: 'ipv6', key: 'ignore-auto-dns', value: 'false', other: 'true' },
  { section: 'ipv6', key: 'ignore-auto-routes', value: 'false', other: 'true' },
  { section: 'ipv6', key: 'never-default', value: 'false', other: 'true' },
  { section: 'bridge', key: 'ageing-time', value: '300', other: '600' },
  { section: 'ovs-bridge', key: 'stp-enable', value: 'false', other: 'true' },
];

/**
 * Keys of ours that the normalised profile no longer has, apart from documented defaults. `type` is
 * rewritten in place (`802-3-ethernet` -> `ethernet`), so it is compared by presence only.
 */
export function droppedKeys(ours: string, normalised: string): string[] {
  const a = parseKeyfile(ours);
  const b = parseKeyfile(normalised);
  const dropped: string[] = [];
  for (const [section, entries] of a) {
    for (const [key, value] of entries) {
      if (b.get(section)?.has(key)) continue;
      if (NM_DEFAULTS.some((d) => d.section === section && d.key === key && d.value === value)) continue;
      dropped.push(`${section}.${key}=${value}`);
    }
  }
  return dropped;
}

export function readKeyfileDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.nmconnection'))
    .sort()) {
    out[name] = readFileSync(path.join(dir, name), 'utf8');
  }
  return out;
}
