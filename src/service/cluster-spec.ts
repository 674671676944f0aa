/**
 * The cluster definition as the API receives it (`PUT /api/v1/cluster`, sent by `outpost cluster up`
 * from the site's EIB definition and flags). Hostile input: every field is checked and every problem is
 * named, none is guessed.
 */
import { isIP } from 'node:net';
import { isHostname } from '../definition/hostname.ts';
import { isGlobalUnicast } from '../definition/ip.ts';
import type { SiteCluster } from './cluster-manager.ts';

/** RKE2 release names as published: v1.32.4+rke2r1. */
const RKE2_VERSION = /^v1\.\d{1,3}\.\d{1,3}\+rke2r\d{1,3}$/;
/** A DNS-1123 label: the cluster name becomes kubeconfig names and the CAPI-style kubeconfig secret name. */
const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export type ClusterSpecResult = { ok: true; spec: SiteCluster } | { ok: false; problems: string[] };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const KNOWN_KEYS = new Set(['name', 'version', 'apiVIPs', 'apiHost', 'initializer', 'apiEndpoint']);

export function parseClusterSpec(body: unknown, hostNames: readonly string[]): ClusterSpecResult {
  if (!isRecord(body)) return { ok: false, problems: ['the body must be a JSON object'] };
  const problems: string[] = [];
  for (const key of Object.keys(body)) if (!KNOWN_KEYS.has(key)) problems.push(`${key}: unknown field`);

  const { name, version, apiVIPs = [], apiHost, initializer, apiEndpoint } = body;
  if (typeof name !== 'string' || !CLUSTER_NAME.test(name)) {
    problems.push('name: must be a lower-case DNS label (a-z, 0-9, -; at most 63)');
  }
  if (typeof version !== 'string' || !RKE2_VERSION.test(version)) {
    problems.push('version: must be an RKE2 release such as v1.32.4+rke2r1');
  }
  const vips: string[] = [];
  if (!Array.isArray(apiVIPs) || apiVIPs.length > 2) {
    problems.push('apiVIPs: must be a list of at most two addresses (one per family)');
  } else {
    for (const vip of apiVIPs) {
      if (typeof vip !== 'string' || !isGlobalUnicast(vip)) {
        problems.push(`apiVIPs: ${JSON.stringify(vip)} is not a global unicast address`);
      } else vips.push(vip);
    }
    if (vips.length === 2 && isIP(vips[0] ?? '') === isIP(vips[1] ?? '')) {
      problems.push('apiVIPs: two addresses of the same family');
    }
  }
  if (apiHost !== undefined && (typeof apiHost !== 'string' || !isHostname(apiHost))) {
    problems.push('apiHost: must be a DNS name');
  }
  if (initializer !== undefined && (typeof initializer !== 'string' || !hostNames.includes(initializer))) {
    problems.push(`initializer: ${JSON.stringify(initializer)} is not a host of this site`);
  }
  let endpoint: SiteCluster['apiEndpoint'];
  if (apiEndpoint !== undefined) {
    const address = isRecord(apiEndpoint) ? apiEndpoint.address : undefined;
    const port = isRecord(apiEndpoint) ? apiEndpoint.port : undefined;
    if (
      typeof address !== 'string' ||
      (isIP(address) === 0 && !isHostname(address)) ||
      typeof port !== 'number' ||
      !Number.isInteger(port) ||
      port < 1 ||
      port > 65535
    ) {
      problems.push('apiEndpoint: must be {"address": <IP or DNS name>, "port": 1-65535}');
    } else endpoint = { address, port };
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    spec: {
      name: name as string,
      version: version as string,
      apiVIPs: vips,
      ...(typeof apiHost === 'string' ? { apiHost } : {}),
      ...(typeof initializer === 'string' ? { initializer } : {}),
      ...(endpoint ? { apiEndpoint: endpoint } : {}),
    },
  };
}
