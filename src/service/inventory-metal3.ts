import type { YamlCursor } from '../common/yaml-cursor.ts';
import {
  blockStart,
  checkNetworkData,
  readBmcAddress,
  readHostName,
  readLabels,
  readMac,
  readRootDeviceHints,
  rememberCursors,
} from './inventory-fields.ts';
import type { HostRole, InventoryHost } from './types.ts';

/** Every field of BareMetalHost.spec (metal3.io/v1alpha1); the ones outpost does not use are accepted and ignored. */
const BMH_SPEC_KEYS = [
  'architecture',
  'automatedCleaningMode',
  'bmc',
  'bootMACAddress',
  'bootMode',
  'consumerRef',
  'customDeploy',
  'description',
  'disablePowerOff',
  'externallyProvisioned',
  'firmware',
  'hardwareProfile',
  'image',
  'metaData',
  'networkData',
  'online',
  'preprovisioningNetworkDataName',
  'raid',
  'rootDeviceHints',
  'taints',
  'userData',
];
const BMC_KEYS = ['address', 'credentialsName', 'disableCertificateVerification'];

/** A Secret's decoded values, with the cursor of each key so problems point at it. */
interface SecretEntry {
  cursor: YamlCursor;
  values: Map<string, { value: string; cursor: YamlCursor }>;
}

/**
 * Metal3 manifests as they are: `BareMetalHost` documents plus the `Secret`s they name
 * (BMC credentials; nmstate network data under the `networkData` key). Other kinds are ignored,
 * so a whole Cluster API bundle can be passed.
 */
export function readMetal3Inventory(docs: YamlCursor[]): InventoryHost[] {
  const secrets = new Map<string, SecretEntry>();
  const hostDocs: YamlCursor[] = [];
  for (const doc of docs) {
    if (!doc.isMap) {
      doc.error('must be a Kubernetes object (apiVersion, kind, metadata)');
      continue;
    }
    const kind = doc.get('kind').string({ required: true, env: false });
    if (kind === 'Secret') {
      const secret = readSecret(doc);
      if (secret) secrets.set(secretKey(doc), secret);
    } else if (kind === 'BareMetalHost') hostDocs.push(doc);
  }
  if (hostDocs.length === 0 && docs[0]) {
    docs[0].error('no BareMetalHost found (expected Metal3 manifests or an outpost `hosts:` list)');
  }
  const hosts: InventoryHost[] = [];
  for (const doc of hostDocs) {
    const host = readBareMetalHost(doc, secrets);
    if (host) hosts.push(host);
  }
  return hosts;
}

function namespaceOf(doc: YamlCursor): string {
  return doc.get('metadata').get('namespace').string({ env: false }) ?? 'default';
}

function secretKey(doc: YamlCursor, name?: string): string {
  return `${namespaceOf(doc)}/${name ?? doc.get('metadata').get('name').string({ env: false })}`;
}

function readSecret(doc: YamlCursor): SecretEntry | undefined {
  doc.keys(['apiVersion', 'kind', 'metadata', 'type', 'data', 'stringData', 'immutable']);
  const name = doc.get('metadata').get('name').string({ required: true, env: false });
  if (name === undefined) return undefined;
  const values = new Map<string, { value: string; cursor: YamlCursor }>();
  const data = doc.get('data');
  for (const key of data.keys(data.isMap ? Object.keys(data.toJS() as object) : [])) {
    const field = data.get(key);
    const encoded = field.string({ env: false });
    if (encoded === undefined) continue;
    const compact = encoded.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      field.error('is not valid base64 (Secret `data` values are base64; use `stringData` for plain text)');
      continue;
    }
    values.set(key, { value: Buffer.from(compact, 'base64').toString('utf8'), cursor: field });
  }
  // Kubernetes merges stringData over data.
  const stringData = doc.get('stringData');
  for (const key of stringData.keys(stringData.isMap ? Object.keys(stringData.toJS() as object) : [])) {
    const value = stringData.get(key).string({ env: false });
    if (value !== undefined) values.set(key, { value, cursor: stringData.get(key) });
  }
  return { cursor: doc, values };
}

function readBareMetalHost(doc: YamlCursor, secrets: Map<string, SecretEntry>): InventoryHost | undefined {
  doc.keys(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const apiVersion = doc.get('apiVersion').string({ required: true, env: false });
  if (apiVersion !== undefined && !apiVersion.startsWith('metal3.io/')) {
    doc.get('apiVersion').error(`BareMetalHost must be metal3.io/v1alpha1, not '${apiVersion}'`);
  }
  const metadata = doc.get('metadata');
  const name = readHostName(metadata.get('name'));
  const labels = readLabels(metadata.get('labels'));
  const spec = doc.get('spec');
  if (!spec.present) spec.error('is required');
  spec.keys(BMH_SPEC_KEYS);
  const bmc = spec.get('bmc');
  if (!bmc.present) bmc.error('is required');
  bmc.keys(BMC_KEYS);
  const address = readBmcAddress(bmc.get('address'));
  const disableCertificateVerification = bmc.get('disableCertificateVerification').boolean() ?? false;
  const credentials = readCredentials(doc, bmc.get('credentialsName'), secrets);
  const bootMACAddress = readMac(spec.get('bootMACAddress'));
  const online = spec.get('online').boolean() ?? false;
  const rootDeviceHints = readRootDeviceHints(spec.get('rootDeviceHints'));
  const networkData = readNetworkDataSecret(doc, spec, secrets);
  if (name === undefined || address === undefined || credentials === undefined) return undefined;
  const host: InventoryHost = {
    spec: {
      name,
      bmc: { address, disableCertificateVerification },
      role: roleFromLabels(labels),
      online,
      labels,
      ...(bootMACAddress !== undefined && { bootMACAddress }),
      ...(rootDeviceHints !== undefined && { rootDeviceHints }),
      ...(networkData !== undefined && { networkData }),
    },
    credentials,
  };
  rememberCursors(host, {
    name: metadata.get('name'),
    mac: spec.get('bootMACAddress'),
    address: bmc.get('address'),
  });
  return host;
}

/**
 * Metal3 has no role; outpost reads it from the `outpost.io/role` label (server|agent), else from the
 * common `cluster-role: control-plane|worker` label, else a host is an RKE2 server.
 */
function roleFromLabels(labels: Record<string, string>): HostRole {
  const explicit = labels['outpost.io/role'];
  if (explicit === 'server' || explicit === 'agent') return explicit;
  return labels['cluster-role'] === 'worker' ? 'agent' : 'server';
}

function readCredentials(
  doc: YamlCursor,
  field: YamlCursor,
  secrets: Map<string, SecretEntry>,
): { username: string; password: string } | undefined {
  const name = field.string({ required: true, env: false });
  if (name === undefined) return undefined;
  const secret = secrets.get(secretKey(doc, name));
  if (!secret) {
    field.error(`Secret '${name}' is not in this file (namespace '${namespaceOf(doc)}')`);
    return undefined;
  }
  const username = secret.values.get('username')?.value;
  const password = secret.values.get('password')?.value;
  if (!username) secret.cursor.get('data').error(`Secret '${name}' has no username`);
  if (!password) secret.cursor.get('data').error(`Secret '${name}' has no password`);
  return username && password ? { username, password } : undefined;
}

/** `preprovisioningNetworkDataName` (the one used at deploy time) or `networkData.name`: a Secret's `networkData` key. */
function readNetworkDataSecret(
  doc: YamlCursor,
  spec: YamlCursor,
  secrets: Map<string, SecretEntry>,
): string | undefined {
  const pre = spec.get('preprovisioningNetworkDataName');
  const ref = spec.get('networkData');
  ref.keys(['name', 'namespace']);
  const field = pre.present ? pre : ref.get('name');
  const name = field.string({ env: false });
  if (name === undefined) return undefined;
  const namespace = (!pre.present && ref.get('namespace').string({ env: false })) || namespaceOf(doc);
  const secret = secrets.get(`${namespace}/${name}`);
  if (!secret) {
    field.error(`Secret '${name}' is not in this file (namespace '${namespace}')`);
    return undefined;
  }
  const entry = secret.values.get('networkData') ?? secret.values.get('nmstate');
  if (!entry) {
    secret.cursor.error(`Secret '${name}' has no networkData key (nmstate YAML)`);
    return undefined;
  }
  // A `stringData` block string is checked where it stands; base64 `data` at its key.
  return checkNetworkData(entry.cursor, entry.value, `Secret ${name}`, blockStart(entry.cursor));
}
