/**
 * Inventories travel in kits without their secrets: BMC credentials are taken out when the kit is made
 * (outpost YAML: `bmc.username`, `password`, `passwordFile`; Metal3: the Secrets `credentialsName` names)
 * and put back at import from a secrets file the site keeps apart. Network data stays (it is not a
 * secret; a `networkDataFile` is inlined so the kit is whole). Pure: text in, text out.
 */
import path from 'node:path';
import { type Document, isMap, isSeq, parseAllDocuments, stringify } from 'yaml';
import type { Diagnostic } from '../common/diagnostics.ts';
import type { InventoryInput } from '../service/inventory.ts';
import type { SecretNeeded } from './manifest.ts';

const CREDENTIAL_KEYS = ['username', 'password'];

export interface InventoryText {
  /** The file's name in the kit (`inventory/hosts.yaml`). */
  name: string;
  text: string;
}

/**
 * The inventory files without their credentials, and what the site must supply. The files were checked
 * by the inventory parser before (so their shape is known good); `readFile` reads a `networkDataFile`
 * relative to its inventory file.
 */
export function stripSecrets(files: { name: string; text: string; readFile: (file: string) => string }[]): {
  files: InventoryText[];
  secretsNeeded: SecretNeeded[];
} {
  const parsed = files.map((f) => ({ ...f, docs: parseAllDocuments(f.text) as Document[] }));
  const secretsNeeded: SecretNeeded[] = [];
  const credentialSecrets = new Set<string>();
  for (const f of parsed) {
    if (isOutpostFormat(f.docs)) {
      const hosts = f.docs[0]!.get('hosts');
      if (!isSeq(hosts)) continue;
      hosts.items.forEach((_, i) => {
        const doc = f.docs[0]!;
        for (const key of ['username', 'password', 'passwordFile']) doc.deleteIn(['hosts', i, 'bmc', key]);
        const networkDataFile = doc.getIn(['hosts', i, 'networkDataFile']);
        if (typeof networkDataFile === 'string') {
          doc.setIn(['hosts', i, 'networkData'], f.readFile(networkDataFile));
          doc.deleteIn(['hosts', i, 'networkDataFile']);
        }
        secretsNeeded.push({
          host: String(doc.getIn(['hosts', i, 'name'])),
          inventory: f.name,
          keys: CREDENTIAL_KEYS,
        });
      });
    } else {
      for (const doc of f.docs) {
        if (doc.get('kind') !== 'BareMetalHost') continue;
        const namespace = String(doc.getIn(['metadata', 'namespace']) ?? 'default');
        const name = doc.getIn(['spec', 'bmc', 'credentialsName']);
        if (typeof name !== 'string') continue;
        credentialSecrets.add(`${namespace}/${name}`);
        secretsNeeded.push({
          host: String(doc.getIn(['metadata', 'name'])),
          inventory: f.name,
          keys: CREDENTIAL_KEYS,
          secret: { namespace, name },
        });
      }
    }
  }
  const out: InventoryText[] = [];
  for (const f of parsed) {
    const kept = f.docs.filter((doc) => {
      if (doc.get('kind') !== 'Secret') return true;
      const key = `${String(doc.getIn(['metadata', 'namespace']) ?? 'default')}/${String(doc.getIn(['metadata', 'name']))}`;
      if (!credentialSecrets.has(key)) return true;
      // A credentials Secret may carry other keys (network data): those stay.
      for (const field of ['data', 'stringData']) {
        const values = doc.get(field);
        if (isMap(values)) for (const k of CREDENTIAL_KEYS) values.delete(k);
      }
      return ['data', 'stringData'].some((field) => {
        const value = doc.get(field);
        return isMap(value) && value.items.length > 0;
      });
    });
    if (kept.length === 0) continue; // a file of credentials only
    out.push({ name: f.name, text: joinDocuments(kept) });
  }
  return { files: out, secretsNeeded };
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * The credentials in a secrets file: Metal3 `Secret` documents (by namespace/name, `stringData` over
 * base64 `data` as in Kubernetes), or outpost's credentials list:
 * `credentials: [{host: node-1, username: admin, password: ...}]` (or `passwordFile`, relative to the file).
 */
export function readSecretsFile(
  file: string,
  text: string,
  readFile: (file: string) => string,
): { bySecret: Map<string, Credentials>; byHost: Map<string, Credentials>; diagnostics: Diagnostic[] } {
  const bySecret = new Map<string, Credentials>();
  const byHost = new Map<string, Credentials>();
  const diagnostics: Diagnostic[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: false }) as Document[];
  const lineOf = (offset: number | undefined) =>
    offset === undefined ? 1 : text.slice(0, offset).split('\n').length;
  const fail = (offset: number | undefined, field: string, message: string) =>
    diagnostics.push({ file, line: lineOf(offset), col: 1, path: field, message, section: 'Secrets' });
  for (const [n, doc] of docs.entries()) {
    for (const error of doc.errors) fail(error.pos[0], '', `is not valid YAML: ${error.code}`);
    if (doc.errors.length || doc.contents === null) continue;
    const js = doc.toJS() as Record<string, unknown> | null;
    const at = docs.length > 1 ? `documents[${n}]` : '';
    if (js?.kind === 'Secret') {
      const metadata = (js.metadata ?? {}) as Record<string, unknown>;
      const values = new Map<string, string>();
      for (const [k, v] of Object.entries((js.data ?? {}) as Record<string, unknown>)) {
        if (typeof v === 'string') values.set(k, Buffer.from(v, 'base64').toString('utf8'));
      }
      for (const [k, v] of Object.entries((js.stringData ?? {}) as Record<string, unknown>)) {
        if (typeof v === 'string') values.set(k, v);
      }
      const username = values.get('username');
      const password = values.get('password');
      if (typeof metadata.name !== 'string') {
        fail(doc.range?.[0], `${at}.metadata.name`, 'is required');
        continue;
      }
      if (!username || !password) continue; // not a credentials Secret
      bySecret.set(
        `${typeof metadata.namespace === 'string' ? metadata.namespace : 'default'}/${metadata.name}`,
        {
          username,
          password,
        },
      );
      continue;
    }
    const list = js?.credentials;
    if (!Array.isArray(list)) {
      fail(
        doc.range?.[0],
        at,
        'expected Metal3 Secrets or a `credentials:` list of {host, username, password}',
      );
      continue;
    }
    for (const [i, entry] of (list as unknown[]).entries()) {
      const field = `credentials[${i}]`;
      const item = doc.getIn(['credentials', i], true) as { range?: [number] } | undefined;
      const e = (entry ?? {}) as Record<string, unknown>;
      if (typeof e.host !== 'string') {
        fail(item?.range?.[0], `${field}.host`, 'is required');
        continue;
      }
      if (typeof e.username !== 'string' || e.username === '') {
        fail(item?.range?.[0], `${field}.username`, 'is required');
        continue;
      }
      let password = typeof e.password === 'string' ? e.password : undefined;
      if (password === undefined && typeof e.passwordFile === 'string') {
        try {
          password = readFile(e.passwordFile).replace(/\r?\n$/, '');
        } catch (error) {
          fail(
            item?.range?.[0],
            `${field}.passwordFile`,
            `cannot read '${e.passwordFile}': ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
          );
          continue;
        }
      }
      if (!password) {
        fail(item?.range?.[0], `${field}.password`, 'is required (or passwordFile)');
        continue;
      }
      byHost.set(e.host, { username: e.username, password });
    }
  }
  return { bySecret, byHost, diagnostics };
}

/**
 * The kit's inventory with the credentials put back, ready for the inventory parser, or the secrets
 * still missing (then nothing may be imported).
 */
export function restoreSecrets(
  files: InventoryText[],
  needed: SecretNeeded[],
  secrets: { file: string; bySecret: Map<string, Credentials>; byHost: Map<string, Credentials> },
): { inputs: InventoryInput[]; missing: SecretNeeded[] } {
  const missing: SecretNeeded[] = [];
  const found = new Map<SecretNeeded, Credentials>();
  for (const need of needed) {
    const credentials =
      (need.secret && secrets.bySecret.get(`${need.secret.namespace}/${need.secret.name}`)) ??
      secrets.byHost.get(need.host);
    if (credentials) found.set(need, credentials);
    else missing.push(need);
  }
  if (missing.length) return { inputs: [], missing };
  const inputs: InventoryInput[] = [];
  const generated: object[] = [];
  for (const f of files) {
    const docs = parseAllDocuments(f.text) as Document[];
    if (isOutpostFormat(docs)) {
      const doc = docs[0]!;
      const hosts = doc.get('hosts');
      if (isSeq(hosts)) {
        hosts.items.forEach((_, i) => {
          const need = needed.find(
            (n) => n.inventory === f.name && n.host === String(doc.getIn(['hosts', i, 'name'])),
          );
          const credentials = need && found.get(need);
          if (!credentials) return;
          doc.setIn(['hosts', i, 'bmc', 'username'], credentials.username);
          doc.setIn(['hosts', i, 'bmc', 'password'], credentials.password);
        });
      }
      inputs.push({ file: f.name, text: doc.toString() });
    } else inputs.push({ file: f.name, text: f.text });
  }
  for (const [need, credentials] of found) {
    if (!need.secret) continue;
    generated.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: need.secret.name, namespace: need.secret.namespace },
      type: 'Opaque',
      stringData: { username: credentials.username, password: credentials.password },
    });
  }
  if (generated.length) {
    inputs.push({ file: secrets.file, text: generated.map((d) => stringify(d)).join('---\n') });
  }
  return { inputs, missing };
}

/** What a site must supply, one line per host, for messages and reports (never values). */
export function describeNeeded(need: SecretNeeded): string {
  const where = need.secret
    ? `Secret ${need.secret.namespace}/${need.secret.name} with ${need.keys.join(' and ')}`
    : `credentials entry with ${need.keys.join(' and ')}`;
  return `host ${need.host} (${path.posix.basename(need.inventory)}): BMC ${where}`;
}

function isOutpostFormat(docs: Document[]): boolean {
  const present = docs.filter((d) => d.contents !== null);
  return present.length === 1 && isMap(present[0]!.contents) && present[0]!.has('hosts');
}

function joinDocuments(docs: Document[]): string {
  return docs
    .map((doc, i) => {
      const text = doc.toString();
      return i === 0 || text.startsWith('---') ? text : `---\n${text}`;
    })
    .join('');
}
