/**
 * The site's cluster as its EIB definition describes it, so `outpost cluster up --definition-file` and the
 * image agree on version, VIPs, apiHost and the initializer (EIB: the node marked `initializer`, else the
 * first server listed). The cluster's name is outpost's: EIB definitions have none.
 */
import type { Kubernetes } from '../definition/types.ts';
import type { ClusterSpec } from './types.ts';

export interface DefinedCluster extends ClusterSpec {
  initializer?: string;
}

export function clusterFromDefinition(kubernetes: Kubernetes, name: string): DefinedCluster {
  const vips = [kubernetes.network?.apiVIP, kubernetes.network?.apiVIP6].filter((v): v is string => !!v);
  const servers = kubernetes.nodes.filter((n) => n.type === 'server');
  const initializer = servers.find((n) => n.initializer) ?? servers[0];
  return {
    name,
    version: kubernetes.version,
    apiVIPs: vips,
    ...(kubernetes.network?.apiHost ? { apiHost: kubernetes.network.apiHost } : {}),
    ...(initializer ? { initializer: initializer.hostname } : {}),
  };
}
