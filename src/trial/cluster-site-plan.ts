/**
 * The 3-server virtual site with Kubernetes, as data: which lab host plays which part, the definition the
 * golden image is built from (the user's, with a `kubernetes` section for this site), and the inventory the
 * service imports (each host's role and nmstate network data). Pure: the site network's addresses and the
 * lab's hosts come in, YAML-ready objects go out; the orchestration (cluster-site.ts) does the I/O.
 */
import type { NodeRole } from '../cluster/types.ts';
import { guestAddress, siteHostNetworkData } from '../lab/index.ts';

/** One host of the site: its part in the cluster. */
export interface SiteNode {
  host: string;
  role: NodeRole;
  initializer: boolean;
}

/**
 * The site: an initializer, a second server and an agent. Two servers give etcd no spare (the plan
 * warns so), which is the point here: the smallest site with a joining server and a worker.
 */
export const CLUSTER_SITE_NODES: readonly SiteNode[] = [
  { host: 'host-1', role: 'server', initializer: true },
  { host: 'host-2', role: 'server', initializer: false },
  { host: 'host-3', role: 'agent', initializer: false },
];

export interface ClusterSiteSettings {
  /** RKE2 release the stand-in is written for. */
  version: string;
  /** The API VIP on the site network. */
  apiVIP: string;
  nodes: readonly SiteNode[];
}

// biome-ignore lint/suspicious/noExplicitAny: an EIB definition is edited as plain YAML data
type Definition = Record<string, any>;

/**
 * The user's definition with this site's `kubernetes` section: the version, the VIP (EIB's apiVIP; an
 * apiVIP6 has no place on the IPv4 site network and is dropped) and the nodes by host name, so the image's
 * own role rule and `cluster up --definition-file` agree with the inventory. Other Kubernetes settings of
 * the user (charts, manifests) are kept.
 */
export function clusterSiteDefinition(definition: Definition, site: ClusterSiteSettings): Definition {
  const kubernetes: Definition = definition.kubernetes ?? {};
  const { apiVIP6: _v6, ...network } = kubernetes.network ?? {};
  return {
    ...definition,
    kubernetes: {
      ...kubernetes,
      version: site.version,
      network: { ...network, apiVIP: site.apiVIP },
      nodes: site.nodes.map((n) => ({
        hostname: n.host,
        type: n.role,
        ...(n.initializer && { initializer: true }),
      })),
    },
  };
}

/** What the lab tells about one of its hosts (LabHost, with the MAC of its NIC on the site network). */
export interface LabHostFacts {
  name: string;
  bmcAddress: string;
  username: string;
  password: string;
  bootMac: string;
  siteMac?: string;
}

export interface SiteNetworkFacts {
  prefixLength: number;
  serverAddress(n: number): string;
}

/**
 * The inventory `outpost hosts import` would read for the site: BMC, boot MAC, role and network data per
 * host, in the order of `nodes`. Every node must be a lab host with a NIC on the site network.
 */
export function clusterSiteInventory(
  labHosts: readonly LabHostFacts[],
  network: SiteNetworkFacts,
  nodes: readonly SiteNode[] = CLUSTER_SITE_NODES,
): { hosts: Record<string, unknown>[] } {
  return {
    hosts: nodes.map((node, i) => {
      const h = labHosts.find((l) => l.name === node.host);
      if (!h) throw new Error(`the lab has no host ${node.host}`);
      if (!h.siteMac) throw new Error(`${node.host} has no NIC on the site network (start the lab with one)`);
      return {
        name: h.name,
        bmc: { address: h.bmcAddress, username: h.username, password: h.password },
        bootMACAddress: h.bootMac,
        role: node.role,
        networkData: siteHostNetworkData(h.bootMac, h.siteMac, {
          siteAddress: network.serverAddress(i),
          prefixLength: network.prefixLength,
          guestAddress: guestAddress(i),
        }),
      };
    }),
  };
}
