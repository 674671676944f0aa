/**
 * The cluster's vocabulary. A site has one RKE2 cluster; its members are inventory hosts with a role.
 * Phases and condition names follow Cluster API (cluster.x-k8s.io v1beta2) so people who know
 * `clusterctl describe` read the same words; the one deliberate difference is an `Available` phase,
 * which Cluster API expresses only as a condition.
 */

export type NodeRole = 'server' | 'agent';

/** What the site's cluster is: everything but the token, which is a secret kept apart (see token.ts). */
export interface ClusterSpec {
  name: string;
  /** RKE2 release, e.g. v1.32.4+rke2r1. */
  version: string;
  /** The Kubernetes API VIPs, one per family at most (EIB's apiVIP / apiVIP6). */
  apiVIPs: string[];
  /** A DNS name for the API (EIB's apiHost): goes into tls-san, never used to join. */
  apiHost?: string;
}

export interface ClusterMember {
  host: string;
  role: NodeRole;
  /** The one server that starts the cluster (no `server:` key in its config). */
  initializer: boolean;
  /** Static addresses from the host's network data, in the order they appear there. */
  addresses: string[];
}

/** A host's lifecycle as far as the cluster cares: the service's state names, reduced. */
export type MachinePhase = 'Pending' | 'Provisioning' | 'Provisioned' | 'Running' | 'Failed';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** Cluster API v1beta1 severities; a True condition has none. */
export type Severity = '' | 'Info' | 'Warning' | 'Error';

export interface Condition {
  type: string;
  status: ConditionStatus;
  severity: Severity;
  reason: string;
  message: string;
  /** When the condition last changed status (epoch ms). */
  since: number;
}

/** What the tracker saw of one Node (a reduced v1 Node). */
export interface NodeObservation {
  name: string;
  /** Value of the label the image sets to name its inventory host. */
  host?: string;
  ready: ConditionStatus;
  reason: string;
  message: string;
  /** lastTransitionTime of the Ready condition (epoch ms). */
  readySince: number;
  /** When the Node object was created (epoch ms). */
  created: number;
  roles: string[];
  internalIP?: string;
  kubeletVersion?: string;
}

export const CLUSTER_PHASES = ['Pending', 'Provisioning', 'ControlPlaneInitialized', 'Available'] as const;
export type ClusterPhase = (typeof CLUSTER_PHASES)[number];

/** The label outpost's first boot puts on every Node, naming the inventory host it runs on. */
export const HOST_LABEL = 'outpost.io/host';
