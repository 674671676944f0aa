/**
 * Who starts the cluster, who joins it where, and in which order the hosts are provisioned. Pure: the
 * facts come from the inventory and the cluster spec; the result is what `outpost cluster up --dry-run`
 * prints and what provisioning writes into each host's config drive.
 */
import { isIPv6 } from 'node:net';
import type { ClusterMember, ClusterSpec, NodeRole } from './types.ts';

/** RKE2's supervisor port, where joining nodes register (rke2 `pkg/cli/defaults`). */
export const SUPERVISOR_PORT = 9345;

/** The per-host RKE2 settings delivered in the config drive (`outpost.rke2` in meta_data.json). */
export interface HostRke2Settings {
  role: NodeRole;
  initializer: boolean;
  /** Where to join; absent on the initializer, which starts the cluster. */
  server?: string;
  nodeName: string;
  nodeIP: string[];
  tlsSan: string[];
}

/**
 * A wave starts when the gate before it is passed. Joiners retry until the supervisor answers, so they
 * need not wait for the control plane itself; they wait for the initializer's OS so that one broken image
 * costs one host, not the whole site.
 */
export type WaveGate = 'none' | 'initializer-provisioned';

export interface ProvisionWave {
  gate: WaveGate;
  hosts: string[];
}

export interface JoinPlan {
  initializer: string;
  joinURL?: string;
  waves: ProvisionWave[];
  settings: Map<string, HostRke2Settings>;
}

export type JoinPlanResult = { ok: true; plan: JoinPlan } | { ok: false; problems: string[] };

/** `https://host:port`, bracketing IPv6 literals as URLs require. */
export function supervisorURL(address: string): string {
  return `https://${isIPv6(address) ? `[${address}]` : address}:${SUPERVISOR_PORT}`;
}

/** The address joiners use: the first VIP (EIB puts apiVIP first), else the initializer's first static address. */
function joinAddress(spec: ClusterSpec, initializer: ClusterMember): string | undefined {
  return spec.apiVIPs[0] ?? initializer.addresses[0];
}

export function planJoin(spec: ClusterSpec, members: readonly ClusterMember[]): JoinPlanResult {
  const problems: string[] = [];
  const servers = members.filter((m) => m.role === 'server');
  if (servers.length === 0)
    problems.push('the cluster has no server: give at least one host the role server');

  const marked = members.filter((m) => m.initializer);
  for (const m of marked) {
    if (m.role !== 'server')
      problems.push(`${m.host}: only a server can be the initializer (role is ${m.role})`);
  }
  if (marked.length > 1) {
    problems.push(
      `more than one initializer: ${marked.map((m) => m.host).join(', ')} (exactly one server starts the cluster)`,
    );
  }
  // Like EIB: without an explicit initializer, the first server listed starts the cluster.
  const initializer = marked.length === 1 && marked[0]?.role === 'server' ? marked[0] : servers[0];
  if (problems.length > 0 || initializer === undefined) return { ok: false, problems };

  const joiners = members.filter((m) => m !== initializer);
  const address = joinAddress(spec, initializer);
  if (joiners.length > 0 && address === undefined) {
    return {
      ok: false,
      problems: [
        `${joiners.length} host(s) must join ${initializer.host}, but the cluster has no API VIP and ${initializer.host} has no static address in its network data: set an apiVIP or give ${initializer.host} a static address`,
      ],
    };
  }
  const joinURL = joiners.length > 0 && address !== undefined ? supervisorURL(address) : undefined;
  const tlsSan = [...spec.apiVIPs, ...(spec.apiHost ? [spec.apiHost] : [])];

  const settings = new Map<string, HostRke2Settings>();
  for (const m of members) {
    const isInitializer = m === initializer;
    settings.set(m.host, {
      role: m.role,
      initializer: isInitializer,
      ...(isInitializer || joinURL === undefined ? {} : { server: joinURL }),
      nodeName: m.host,
      nodeIP: m.addresses.slice(0, 2),
      tlsSan: m.role === 'server' ? tlsSan : [],
    });
  }
  const waves: ProvisionWave[] = [{ gate: 'none', hosts: [initializer.host] }];
  // Servers before agents within the wave, so a listing reads control plane first.
  const rest = [...joiners.filter((m) => m.role === 'server'), ...joiners.filter((m) => m.role === 'agent')];
  if (rest.length > 0) waves.push({ gate: 'initializer-provisioned', hosts: rest.map((m) => m.host) });
  return {
    ok: true,
    plan: { initializer: initializer.host, ...(joinURL ? { joinURL } : {}), waves, settings },
  };
}

/** Warnings that do not stop a plan but that an operator should read before rolling out. */
export function planWarnings(members: readonly ClusterMember[]): string[] {
  const servers = members.filter((m) => m.role === 'server').length;
  const warnings: string[] = [];
  if (servers === 2) {
    warnings.push('2 servers tolerate no server failure (etcd needs a majority): use 1 or 3 servers');
  } else if (servers > 1 && servers % 2 === 0) {
    warnings.push(
      `${servers} servers tolerate as many failures as ${servers - 1} (etcd needs a majority): use an odd number`,
    );
  }
  return warnings;
}

/** The plan as `cluster up --dry-run` prints it. */
export function formatJoinPlan(spec: ClusterSpec, plan: JoinPlan): string {
  const lines = [`cluster ${spec.name} (RKE2 ${spec.version})`];
  lines.push(plan.joinURL ? `joining nodes register at ${plan.joinURL}` : 'single node: nothing joins');
  plan.waves.forEach((wave, i) => {
    const when = wave.gate === 'none' ? 'at once' : `once ${plan.initializer} is provisioned`;
    lines.push(`wave ${i + 1} (${when}):`);
    for (const host of wave.hosts) {
      const s = plan.settings.get(host);
      if (!s) continue;
      const role = s.initializer ? 'server, initializer' : s.role;
      const ip = s.nodeIP.length > 0 ? ` node-ip ${s.nodeIP.join(',')}` : '';
      lines.push(`  ${host} (${role})${ip}`);
    }
  });
  return lines.join('\n');
}

/**
 * The host's RKE2 settings as the string keys first boot reads from the config drive's meta_data.json
 * (docs/first-boot.md, "Kubernetes keys on the config drive"). The token is the only secret here: the
 * config drive is written 0600 and served only to that host.
 */
export function configDriveKeys(settings: HostRke2Settings, token: string): Record<string, string> {
  return {
    outpost_kubernetes_role: settings.initializer ? 'initializer' : settings.role,
    ...(settings.server ? { outpost_kubernetes_server: settings.server } : {}),
    outpost_kubernetes_token: token,
    outpost_kubernetes_node_name: settings.nodeName,
    ...(settings.nodeIP.length > 0 ? { outpost_kubernetes_node_ip: settings.nodeIP.join(',') } : {}),
  };
}
