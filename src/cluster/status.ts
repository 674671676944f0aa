/**
 * The cluster's state derived from what the service knows: each member host's machine phase, whether the
 * initializer reported the cluster up, and the Nodes the tracker sees. Pure, so the same facts always
 * read the same, and `describe`, the console and the metrics agree.
 */
import type {
  ClusterMember,
  ClusterPhase,
  Condition,
  ConditionStatus,
  MachinePhase,
  NodeObservation,
  NodeRole,
} from './types.ts';
import { HOST_LABEL } from './types.ts';

export interface MemberFacts {
  member: ClusterMember;
  phase: MachinePhase;
  /** When the machine entered its phase (epoch ms). */
  phaseSince: number;
  /** The host's last error, when it has one. */
  error?: string;
  /** Remediation gave up on it: a person must look. */
  unhealthy?: boolean;
}

export interface ClusterFacts {
  name: string;
  members: MemberFacts[];
  nodes: NodeObservation[];
  /** When the control plane was first seen initialized (kubeconfig reported or initializer node seen); it never reverts. */
  initializedAt?: number;
  /** When the first member started provisioning. */
  startedAt?: number;
}

export interface MachineStatus {
  host: string;
  role: NodeRole;
  initializer: boolean;
  phase: MachinePhase;
  node?: NodeObservation;
  /** NodeReady, as Cluster API's Machine condition. */
  nodeReady: Condition;
}

export interface ClusterStatus {
  name: string;
  phase: ClusterPhase;
  conditions: Condition[];
  machines: MachineStatus[];
  /** Nodes that carry no known host label: not ours, or a host removed from the inventory. */
  strayNodes: NodeObservation[];
}

function condition(
  type: string,
  status: ConditionStatus,
  since: number,
  reason = '',
  message = '',
  severity: Condition['severity'] = status === 'True' ? '' : 'Info',
): Condition {
  return { type, status, severity: status === 'True' ? '' : severity, reason, message, since };
}

function nodeReadyCondition(facts: MemberFacts, node: NodeObservation | undefined): Condition {
  if (facts.unhealthy) {
    return condition(
      'NodeReady',
      'False',
      facts.phaseSince,
      'Unhealthy',
      'remediation gave up: power-cycling did not bring the node back',
      'Error',
    );
  }
  if (facts.phase === 'Failed') {
    return condition(
      'NodeReady',
      'False',
      facts.phaseSince,
      'MachineFailed',
      facts.error ?? 'provisioning failed',
      'Error',
    );
  }
  if (node === undefined) {
    const waiting = facts.phase === 'Provisioned' || facts.phase === 'Running';
    return condition(
      'NodeReady',
      'False',
      facts.phaseSince,
      'NodeDoesNotExist',
      waiting
        ? `waiting for a node labelled ${HOST_LABEL}=${facts.member.host}`
        : `host is ${facts.phase.toLowerCase()}`,
      'Info',
    );
  }
  if (node.ready === 'True') return condition('NodeReady', 'True', node.readySince);
  if (node.ready === 'Unknown') {
    return condition(
      'NodeReady',
      'Unknown',
      node.readySince,
      'NodeReadyUnknown',
      node.message || node.reason,
      'Warning',
    );
  }
  return condition(
    'NodeReady',
    'False',
    node.readySince,
    'NodeNotReady',
    node.message || node.reason,
    'Warning',
  );
}

/** Matches Nodes to member hosts by the label the image sets; a duplicate label keeps the newest Node. */
function matchNodes(
  members: readonly MemberFacts[],
  nodes: readonly NodeObservation[],
): { byHost: Map<string, NodeObservation>; stray: NodeObservation[] } {
  const known = new Set(members.map((m) => m.member.host));
  const byHost = new Map<string, NodeObservation>();
  const stray: NodeObservation[] = [];
  for (const node of nodes) {
    if (node.host === undefined || !known.has(node.host)) {
      stray.push(node);
      continue;
    }
    const previous = byHost.get(node.host);
    if (previous === undefined || previous.created < node.created) byHost.set(node.host, node);
  }
  return { byHost, stray };
}

/** The most severe of some False conditions' severities. */
function worstSeverity(conditions: readonly Condition[]): Condition['severity'] {
  if (conditions.some((c) => c.severity === 'Error')) return 'Error';
  if (conditions.some((c) => c.severity === 'Warning')) return 'Warning';
  return 'Info';
}

function earliest(values: number[], fallback: number): number {
  return values.length > 0 ? Math.min(...values) : fallback;
}

function latest(values: number[], fallback: number): number {
  return values.length > 0 ? Math.max(...values) : fallback;
}

/** A group is available when every machine in it has a Ready node; an empty group of workers is fine. */
function groupCondition(
  type: string,
  machines: MachineStatus[],
  now: number,
  emptyReason: string,
): Condition {
  if (machines.length === 0) return condition(type, 'True', now, emptyReason);
  const notReady = machines.filter((m) => m.nodeReady.status !== 'True');
  if (notReady.length === 0)
    return condition(
      type,
      'True',
      latest(
        machines.map((m) => m.nodeReady.since),
        now,
      ),
    );
  const worst = worstSeverity(notReady.map((m) => m.nodeReady));
  return condition(
    type,
    'False',
    latest(
      notReady.map((m) => m.nodeReady.since),
      now,
    ),
    'WaitingForReadyNodes',
    `${machines.length - notReady.length} of ${machines.length} ready; waiting for ${notReady.map((m) => m.host).join(', ')}`,
    worst,
  );
}

export function clusterStatus(facts: ClusterFacts, now: number): ClusterStatus {
  const { byHost, stray } = matchNodes(facts.members, facts.nodes);
  const machines: MachineStatus[] = facts.members.map((f) => {
    const node = byHost.get(f.member.host);
    const phase: MachinePhase = f.phase === 'Provisioned' && node !== undefined ? 'Running' : f.phase;
    return {
      host: f.member.host,
      role: f.member.role,
      initializer: f.member.initializer,
      phase,
      ...(node ? { node } : {}),
      nodeReady: nodeReadyCondition(f, node),
    };
  });

  const initializer = machines.find((m) => m.initializer);
  const initializedAt = facts.initializedAt ?? (initializer?.node ? initializer.node.created : undefined);
  const started = facts.members.some((m) => m.phase !== 'Pending');
  const servers = machines.filter((m) => m.role === 'server');
  const agents = machines.filter((m) => m.role === 'agent');

  const initialized =
    initializedAt !== undefined
      ? condition('ControlPlaneInitialized', 'True', initializedAt)
      : condition(
          'ControlPlaneInitialized',
          'False',
          facts.startedAt ?? now,
          'NotInitialized',
          initializer ? `waiting for ${initializer.host} to start the cluster` : 'no initializer',
        );
  const controlPlane = groupCondition('ControlPlaneAvailable', servers, now, 'NoServers');
  const workers = groupCondition('WorkersAvailable', agents, now, 'NoWorkers');
  const parts = [initialized, controlPlane, workers];
  const failing = parts.filter((c) => c.status !== 'True');
  const available =
    failing.length === 0
      ? condition(
          'Available',
          'True',
          latest(
            parts.map((c) => c.since),
            now,
          ),
        )
      : condition(
          'Available',
          'False',
          earliest(
            failing.map((c) => c.since),
            now,
          ),
          failing[0]?.type === 'ControlPlaneInitialized' ? 'NotInitialized' : 'NotAvailable',
          failing.map((c) => `${c.type}: ${c.message}`).join('; '),
          worstSeverity(failing),
        );

  const phase: ClusterPhase =
    available.status === 'True'
      ? 'Available'
      : initializedAt !== undefined
        ? 'ControlPlaneInitialized'
        : started
          ? 'Provisioning'
          : 'Pending';
  return {
    name: facts.name,
    phase,
    conditions: [available, initialized, controlPlane, workers],
    machines,
    strayNodes: stray,
  };
}
