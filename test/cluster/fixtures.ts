import type { MemberFacts } from '../../src/cluster/status.ts';
import type { ClusterMember, ClusterSpec, NodeObservation } from '../../src/cluster/types.ts';

export const T0 = Date.parse('2026-11-29T10:00:00Z');
export const MIN = 60_000;

export const SPEC: ClusterSpec = {
  name: 'edge-site',
  version: 'v1.32.4+rke2r1',
  apiVIPs: ['192.168.100.10'],
  apiHost: 'api.edge.example',
};

export const MEMBERS: ClusterMember[] = [
  { host: 'server-1', role: 'server', initializer: false, addresses: ['192.168.100.11'] },
  { host: 'server-2', role: 'server', initializer: false, addresses: ['192.168.100.12', 'fd00::12'] },
  { host: 'agent-1', role: 'agent', initializer: false, addresses: [] },
];

export function member(host: string, initializer = false): ClusterMember {
  const m = MEMBERS.find((x) => x.host === host);
  if (!m) throw new Error(host);
  return { ...m, initializer };
}

export function facts(
  host: string,
  phase: MemberFacts['phase'],
  sinceMin: number,
  initializer = false,
): MemberFacts {
  return { member: member(host, initializer), phase, phaseSince: T0 + sinceMin * MIN };
}

export function node(
  host: string,
  ready: NodeObservation['ready'],
  readySinceMin: number,
  extra: Partial<NodeObservation> = {},
): NodeObservation {
  return {
    name: host,
    host,
    ready,
    reason: ready === 'True' ? 'KubeletReady' : 'KubeletNotReady',
    message: ready === 'True' ? 'kubelet is posting ready status' : 'container runtime network not ready',
    readySince: T0 + readySinceMin * MIN,
    created: T0 + (readySinceMin - 1) * MIN,
    roles: [],
    ...extra,
  };
}
