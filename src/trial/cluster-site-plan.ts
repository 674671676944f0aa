/**
 * The 3-server virtual site with Kubernetes, as data: which lab host plays which part, the definition the
 * golden image is built from (the user's, with a `kubernetes` section for this site), and the inventory the
 * service imports (each host's role and nmstate network data). Pure: the site network's addresses and the
 * lab's hosts come in, YAML-ready objects go out; the orchestration (cluster-site.ts) does the I/O.
 */
import { stringify } from 'yaml';
import type { NodeRole } from '../cluster/types.ts';

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

/** QEMU's user network behind each server's first NIC: the service is 10.0.2.2, a DNS proxy 10.0.2.3. */
export const GUEST_GATEWAY = '10.0.2.2';
export const GUEST_DNS = '10.0.2.3';

/** The address a host's first NIC gets on QEMU's user network (each VM has its own, so they may repeat). */
export function guestAddress(index: number): string {
  return `10.0.2.${51 + index}`;
}

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

export interface SiteAddressing {
  /** The host's static address on the site network, and its prefix length. */
  siteAddress: string;
  prefixLength: number;
  /** The static address of its first NIC on QEMU's user network. */
  guestAddress: string;
}

/**
 * A host's nmstate network data (delivered by its config drive). Both NICs are matched by MAC:
 *
 * - the site NIC first, static on the site network, no route beyond it: its address is the first static
 *   one, which is what the service takes as the node's `node-ip` (cluster/addresses.ts);
 * - the first NIC static on QEMU's user network with the default route and DNS: the installer takes the
 *   NIC with the boot MAC (installer/installer-network.ts), and both the installer and the OS reach the
 *   service through it (media, callbacks). Static rather than DHCP because the installer would otherwise
 *   pick the only static NIC, the site's, and lose the service.
 */
export function clusterNodeNetworkData(bootMac: string, siteMac: string, a: SiteAddressing): string {
  return stringify({
    interfaces: [
      {
        name: 'site0',
        type: 'ethernet',
        state: 'up',
        identifier: 'mac-address',
        'mac-address': siteMac,
        ipv4: {
          enabled: true,
          dhcp: false,
          address: [{ ip: a.siteAddress, 'prefix-length': a.prefixLength }],
        },
        ipv6: { enabled: false },
      },
      {
        name: 'uplink0',
        type: 'ethernet',
        state: 'up',
        identifier: 'mac-address',
        'mac-address': bootMac,
        ipv4: { enabled: true, dhcp: false, address: [{ ip: a.guestAddress, 'prefix-length': 24 }] },
        ipv6: { enabled: false },
      },
    ],
    routes: {
      config: [
        { destination: '0.0.0.0/0', 'next-hop-address': GUEST_GATEWAY, 'next-hop-interface': 'uplink0' },
      ],
    },
    'dns-resolver': { config: { server: [GUEST_DNS] } },
  });
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
        networkData: clusterNodeNetworkData(h.bootMac, h.siteMac, {
          siteAddress: network.serverAddress(i),
          prefixLength: network.prefixLength,
          guestAddress: guestAddress(i),
        }),
      };
    }),
  };
}
