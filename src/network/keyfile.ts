import { createHash } from 'node:crypto';

/** One NetworkManager connection profile in keyfile form: ordered sections of ordered key/value pairs. */
export interface Keyfile {
  /** The `connection.id`, also the file name stem. */
  id: string;
  sections: KeyfileSection[];
}

export interface KeyfileSection {
  name: string;
  entries: [string, string][];
}

export function keyfileName(id: string): string {
  return `${id}.nmconnection`;
}

/** GKeyFile text. Values are escaped the way GLib reads them back (backslash, control characters, edge spaces). */
export function serializeKeyfile(keyfile: Keyfile): string {
  return keyfile.sections
    .map((s) => [`[${s.name}]`, ...s.entries.map(([k, v]) => `${k}=${escapeValue(v)}`)].join('\n'))
    .join('\n\n')
    .concat('\n');
}

const NEEDS_ESCAPE = /[\\\n\t\r]|^ /;

function escapeValue(value: string): string {
  // Almost every value needs no escape: skip the four passes (a host file may hold 30,000 profiles).
  if (!NEEDS_ESCAPE.test(value)) return value;
  const escaped = value
    .replaceAll('\\', '\\\\')
    .replaceAll('\n', '\\n')
    .replaceAll('\t', '\\t')
    .replaceAll('\r', '\\r');
  return escaped.replace(/^ /, '\\s');
}

/** Namespace for outpost's connection UUIDs: uuidv5(URL namespace, "https://outpost.invalid/nmconnection"). */
export const CONNECTION_UUID_NAMESPACE = '1371b53c-1922-5bc6-b445-844f68d89373';

/**
 * RFC 4122 version 5 UUID of `name` in `namespace`: the same host and connection always get the same
 * UUID, so rebuilding an image does not churn profiles and the first-boot generator can reproduce it.
 */
export function uuidV5(name: string, namespace = CONNECTION_UUID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The connection UUID for a profile of a host (`_all` for the shared file). */
export function connectionUuid(host: string, connectionId: string): string {
  return uuidV5(`${host}/${connectionId}`);
}
