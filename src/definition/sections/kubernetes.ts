import { isIPv4, isIPv6 } from 'node:net';
import type { YamlCursor } from '../../common/yaml-cursor.ts';
import { isHostname } from '../hostname.ts';
import { isGlobalUnicast } from '../ip.ts';
import { type ParseContext, reportDuplicates } from '../parse-context.ts';
import type { Draft, Kubernetes, KubernetesNode } from '../types.ts';
import { parseHelm } from './helm.ts';

const NODE_TYPES: readonly KubernetesNode['type'][] = ['server', 'agent'];

export function parseKubernetes(cursor: YamlCursor, ctx: ParseContext): Draft<Kubernetes> | undefined {
  if (!cursor.present) return undefined;
  const f = ctx.fields(cursor, ['version', 'network', 'nodes', 'manifests', 'helm']);
  const version = f.version.string({ required: true });
  const distribution = version === undefined ? undefined : distributionOf(version);
  if (version !== undefined && !distribution) {
    f.version.error(
      `must be an RKE2 or K3s release such as v1.32.4+rke2r1 or v1.32.4+k3s1, not '${version}'`,
    );
  }
  const network = parseNetwork(f.network, ctx);
  const nodes = parseNodes(f.nodes, ctx);
  // A VIP that is present but invalid already has its own error.
  const hasVip = f.network.get('apiVIP').present || f.network.get('apiVIP6').present;
  if (nodes.length > 1 && !hasVip) {
    (f.network.present ? f.network : f.nodes).errorAtKey(
      'a cluster of more than one node needs network.apiVIP or network.apiVIP6 (the address every node joins)',
    );
  }
  return {
    version,
    distribution,
    network,
    nodes,
    manifests: parseManifests(f.manifests, ctx),
    helm: parseHelm(f.helm, ctx),
  };
}

/** Edge Image Builder picks the distribution from the release name. */
function distributionOf(version: string): Kubernetes['distribution'] | undefined {
  if (version.includes('rke2')) return 'rke2';
  if (version.includes('k3s')) return 'k3s';
  return undefined;
}

function parseNetwork(cursor: YamlCursor, ctx: ParseContext): Draft<Kubernetes['network']> {
  if (!cursor.present) return undefined;
  const f = ctx.fields(cursor, ['apiVIP', 'apiVIP6', 'apiHost']);
  const apiVIP = f.apiVIP.string();
  if (apiVIP !== undefined && !isIPv4(apiVIP)) f.apiVIP.error(`must be an IPv4 address, not '${apiVIP}'`);
  else if (apiVIP !== undefined && !isGlobalUnicast(apiVIP)) f.apiVIP.error(notUnicast(apiVIP));
  const apiVIP6 = f.apiVIP6.string();
  if (apiVIP6 !== undefined && !isIPv6(apiVIP6)) f.apiVIP6.error(`must be an IPv6 address, not '${apiVIP6}'`);
  else if (apiVIP6 !== undefined && !isGlobalUnicast(apiVIP6)) f.apiVIP6.error(notUnicast(apiVIP6));
  const apiHost = f.apiHost.string();
  if (apiHost !== undefined && !isHostname(apiHost)) f.apiHost.error(`must be a host name, not '${apiHost}'`);
  return { apiVIP, apiVIP6, apiHost };
}

function notUnicast(address: string): string {
  return `'${address}' is not a global unicast address (not loopback, unspecified, multicast or link-local)`;
}

function parseNodes(cursor: YamlCursor, ctx: ParseContext): Draft<KubernetesNode>[] {
  const nodes = cursor.items().map((item) => {
    const f = ctx.fields(item, ['hostname', 'type', 'initializer']);
    const hostname = f.hostname.string({ required: true });
    if (hostname !== undefined && !isHostname(hostname)) {
      f.hostname.error(`must be a host name (letters, digits, '-' and '.'), not '${hostname}'`);
    }
    const type = f.type.oneOf(NODE_TYPES, { required: true });
    const initializer = f.initializer.boolean() ?? false;
    if (initializer && type === 'agent') f.initializer.errorAtKey("must be on a node of type 'server'");
    return { node: { hostname, type, initializer }, f };
  });
  reportDuplicates(
    nodes.map(({ node, f }) => ({ value: node.hostname, at: f.hostname })),
    (hostname) => `duplicate node '${hostname}'`,
  );
  const initializers = nodes.filter(({ node }) => node.initializer);
  for (const { f } of initializers.slice(1)) {
    f.initializer.errorAtKey(
      `only one node may be the cluster initializer (already ${initializers[0]!.node.hostname ?? 'set'})`,
    );
  }
  if (nodes.length > 0 && nodes.every(({ node }) => node.type === 'agent')) {
    cursor.errorAtKey("needs at least one node of type 'server'");
  }
  return nodes.map(({ node }) => node);
}

function parseManifests(cursor: YamlCursor, ctx: ParseContext): Draft<Kubernetes['manifests']> {
  const f = ctx.fields(cursor, ['urls']);
  const urls = f.urls.items().map((item) => {
    const url = item.string({ required: true });
    if (url !== undefined && !/^https?:$/.test(URL.parse(url)?.protocol ?? '')) {
      item.error(`must be an http:// or https:// URL, not '${url}'`);
    }
    return { value: url, at: item };
  });
  reportDuplicates(urls, (url) => `duplicate manifest URL '${url}'`);
  return { urls: urls.flatMap((u) => (u.value === undefined ? [] : [u.value])) };
}
