import { isIPv6 } from 'node:net';
import { stringify } from 'yaml';
import type { Kubernetes } from '../definition/types.ts';

/**
 * RKE2's `/etc/rancher/rke2/config.yaml` for each role, following Edge Image Builder's rules
 * (pkg/kubernetes/cluster.go): start from the user's `kubernetes/config/server.yaml`, default `cni` to
 * cilium, add the VIPs and apiHost to `tls-san`, point joining nodes at `https://<VIP>:9345`; agents start
 * from `agent.yaml` and take token, server, selinux and cni from the servers' config. The initializer has no
 * `server` key. Unlike EIB, every role carries the token (so nodes can be added later with the same image).
 * Per-host keys (node label, and what a config drive says) are added at first boot.
 */
export type NodeRole = 'initializer' | 'server' | 'agent';
export const NODE_ROLES: readonly NodeRole[] = ['initializer', 'server', 'agent'];

export const SUPERVISOR_PORT = 9345;
export const DEFAULT_CNI = 'cilium';

type ConfigMap = Record<string, unknown>;

export interface NodeConfigInput {
  kubernetes: Pick<Kubernetes, 'network' | 'nodes'>;
  /** Parsed `kubernetes/config/server.yaml` (empty when absent). */
  serverConfig: ConfigMap;
  /** Parsed `kubernetes/config/agent.yaml` (empty when absent). */
  agentConfig: ConfigMap;
  token: string;
  /** Workload image archives are in the image: turn on RKE2's embedded registry mirror (servers). */
  embeddedRegistry?: boolean;
}

export function nodeConfigs(input: NodeConfigInput): Record<NodeRole, ConfigMap> {
  const { network, nodes } = input.kubernetes;
  const multiNode = nodes.length > 1;
  const server: ConfigMap = { ...input.serverConfig };
  server.cni ??= DEFAULT_CNI;
  server.token = input.token;
  if (input.embeddedRegistry) server['embedded-registry'] ??= true;
  const sans = [network?.apiVIP, network?.apiVIP6, network?.apiHost].filter((s): s is string => !!s);
  if (sans.length > 0) server['tls-san'] = unique([...listValue(server['tls-san']), ...sans]);
  if (multiNode && typeof server.selinux !== 'boolean') server.selinux = false;
  delete server.server;

  const joinUrl = supervisorUrl(network, server['cluster-cidr']);
  const joining: ConfigMap = joinUrl ? { ...server, server: joinUrl } : { ...server };
  const agent: ConfigMap = { ...input.agentConfig, token: input.token };
  if (joinUrl) agent.server = joinUrl;
  else delete agent.server;
  if (server.selinux !== undefined) agent.selinux = server.selinux;
  agent.cni = server.cni;
  return { initializer: server, server: joining, agent };
}

/** The address joining nodes use: the IPv6 VIP when it is the only one or the cluster prefers IPv6. */
export function supervisorUrl(network: Kubernetes['network'], clusterCidr: unknown): string | undefined {
  const preferV6 =
    typeof clusterCidr === 'string' && isIPv6(clusterCidr.split(',')[0]!.split('/')[0]!.trim());
  const v6 = network?.apiVIP6;
  const v4 = network?.apiVIP;
  if (v6 && (!v4 || preferV6)) return `https://[${v6}]:${SUPERVISOR_PORT}`;
  if (v4) return `https://${v4}:${SUPERVISOR_PORT}`;
  return undefined;
}

/** RKE2 takes string lists either as YAML lists or comma-separated strings. */
export function listValue(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map(String);
  return String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function renderConfig(config: ConfigMap): string {
  return stringify(config, { lineWidth: 0 });
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
