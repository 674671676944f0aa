/**
 * The admin kubeconfig the initializer reports through its callback. It arrives from the site network,
 * so it is parsed as hostile input: bounded size, one cluster, one user, an https server, inline
 * credentials only (a `client-certificate: /path` or an exec plugin would make the service read files or
 * run programs named by a host). Its server — RKE2 writes https://127.0.0.1:6443 — is rewritten to the
 * address the management node reaches: the VIP, else the node's own address.
 */
import { isIP, isIPv6 } from 'node:net';
import { parseDocument } from 'yaml';

export const KUBECONFIG_MAX_BYTES = 64 * 1024;
export const API_PORT = 6443;

export type KubeconfigResult = { ok: true; kubeconfig: string } | { ok: false; problem: string };

interface Named<T> {
  name?: unknown;
  cluster?: T;
  user?: T;
}

const INLINE_USER_KEYS = new Set([
  'client-certificate-data',
  'client-key-data',
  'token',
  'username',
  'password',
]);
const CLUSTER_KEYS = new Set(['server', 'certificate-authority-data', 'tls-server-name']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function apiURL(address: string, port: number): string {
  return `https://${isIPv6(address) ? `[${address}]` : address}:${port}`;
}

/**
 * Checks a reported kubeconfig and rewrites it for `clusterName`, pointing at `address`. The result has
 * exactly one cluster, user and context, named after the cluster, like `clusterctl get kubeconfig`.
 */
export function adoptKubeconfig(
  text: string,
  clusterName: string,
  address: string,
  port = API_PORT,
): KubeconfigResult {
  if (Buffer.byteLength(text) > KUBECONFIG_MAX_BYTES) {
    return { ok: false, problem: `kubeconfig is larger than ${KUBECONFIG_MAX_BYTES} bytes` };
  }
  if (isIP(address) === 0 && !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i.test(address)) {
    return { ok: false, problem: `not an address or host name: ${JSON.stringify(address)}` };
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    return { ok: false, problem: `kubeconfig is not YAML: ${doc.errors[0]?.message.split('\n')[0]}` };
  // Aliases could multiply a small document into a huge one: a kubeconfig never needs them.
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 0 });
  } catch {
    return { ok: false, problem: 'kubeconfig: YAML aliases are not accepted' };
  }
  if (!isRecord(root) || root.kind !== 'Config')
    return { ok: false, problem: 'kubeconfig: kind must be Config' };
  const clusters = root.clusters;
  const users = root.users;
  if (!Array.isArray(clusters) || clusters.length !== 1)
    return { ok: false, problem: 'kubeconfig: expected exactly one cluster' };
  if (!Array.isArray(users) || users.length !== 1)
    return { ok: false, problem: 'kubeconfig: expected exactly one user' };
  const cluster = (clusters[0] as Named<Record<string, unknown>>).cluster;
  const user = (users[0] as Named<Record<string, unknown>>).user;
  if (!isRecord(cluster) || !isRecord(user))
    return { ok: false, problem: 'kubeconfig: cluster and user must be maps' };

  const badClusterKey = Object.keys(cluster).find((k) => !CLUSTER_KEYS.has(k));
  if (badClusterKey)
    return { ok: false, problem: `kubeconfig: cluster.${badClusterKey} is not accepted (inline data only)` };
  const badUserKey = Object.keys(user).find((k) => !INLINE_USER_KEYS.has(k));
  if (badUserKey)
    return { ok: false, problem: `kubeconfig: user.${badUserKey} is not accepted (inline credentials only)` };
  if (typeof cluster.server !== 'string' || !cluster.server.startsWith('https://')) {
    return { ok: false, problem: 'kubeconfig: cluster.server must be an https URL' };
  }
  const ca = cluster['certificate-authority-data'];
  if (typeof ca !== 'string' || !Buffer.from(ca, 'base64').toString('latin1').includes('BEGIN CERTIFICATE')) {
    return {
      ok: false,
      problem: 'kubeconfig: cluster.certificate-authority-data must be a base64 PEM certificate',
    };
  }
  const hasCert =
    typeof user['client-certificate-data'] === 'string' && typeof user['client-key-data'] === 'string';
  if (!hasCert && typeof user.token !== 'string') {
    return {
      ok: false,
      problem: 'kubeconfig: the user needs client-certificate-data and client-key-data, or a token',
    };
  }

  const userName = `${clusterName}-admin`;
  const contextName = `${userName}@${clusterName}`;
  const adopted = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: clusterName, cluster: { ...cluster, server: apiURL(address, port) } }],
    users: [{ name: userName, user }],
    contexts: [{ name: contextName, context: { cluster: clusterName, user: userName } }],
    'current-context': contextName,
    preferences: {},
  };
  // JSON is YAML, and needs no quoting rules of its own: every value round-trips exactly.
  return { ok: true, kubeconfig: `${JSON.stringify(adopted, null, 2)}\n` };
}
