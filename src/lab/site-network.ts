/**
 * The lab's site network: one layer-2 segment (a bridge) inside a network namespace the lab creates.
 * QEMU servers join it through tap devices, the management side (the root namespace, where the service
 * runs) through a veth pair whose root end carries the gateway address. Nothing is routed anywhere else:
 * the subnet exists only on that veth and inside the namespace.
 *
 * Names carry the owner (PID and process start time) so that the next lab reclaims what a killed one left.
 */
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { procStat } from '../common/proc-stat.ts';

export interface SiteNetworkOptions {
  /** Unique suffix for the netns/bridge/veth names, 1–6 of [a-z0-9] (default: random). */
  id?: string;
  /** IPv4 /24 of the site segment; default: a free 10.231.X.0/24 not routed on this machine. */
  subnet?: string;
}

export interface SiteNetwork {
  /** The network namespace the lab created (holds the bridge). */
  readonly namespace: string;
  /** e.g. "10.231.7.0/24" */
  readonly subnet: string;
  readonly prefixLength: number;
  /** The management side: the root-namespace end of the veth pair whose other end is on the bridge (.1). */
  readonly gateway: string;
  /** The n-th server's address (n from 0): .10 + n. */
  serverAddress(n: number): string;
  /** A free address for the API VIP: .100 */
  readonly vip: string;
  /** The bridge's name inside the namespace. */
  readonly bridge: string;
  /**
   * A tap for one QEMU NIC, created in the root namespace; QEMU opens it with
   * `-netdev tap,id=site,ifname=<name>,script=no,downscript=no`; once QEMU runs, attach(name) moves it into
   * the namespace and onto the bridge. Each QEMU start needs a fresh tap.
   */
  createTap(): Promise<string>;
  /** Moves a link of the root namespace (a tap, or one end of a veth pair) onto the bridge, up. */
  attach(link: string): Promise<void>;
  /** Deletes a tap (wherever it is now); nothing when it is gone already. */
  removeTap(tap: string): Promise<void>;
  /** Removes namespace, bridge, veth, taps; idempotent. */
  close(): Promise<void>;
}

export const NAMESPACE_PREFIX = 'outpost-site-';
const SERVER_BASE = 10;
/** Servers take .10-.99. */
export const SITE_SERVERS_MAX = 90;
const SERVER_MAX = SITE_SERVERS_MAX - 1;
const VIP_HOST = 100;
const GATEWAY_HOST = 1;
const BRIDGE = 'site-br';
const PEER = 'site-gw';
const ID = /^[a-z0-9]{1,6}$/;

// ---- pure parts --------------------------------------------------------------------------------------

export interface Ipv4Prefix {
  /** The network address as a 32-bit unsigned number. */
  base: number;
  length: number;
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** `a.b.c.d/len` (a bare address is a /32); the host bits are cleared. */
export function parseIpv4Prefix(text: string): Ipv4Prefix | undefined {
  const [address, length = '32', extra] = text.split('/');
  if (extra !== undefined || !/^\d{1,2}$/.test(length) || Number(length) > 32) return undefined;
  const value = parseIpv4(address ?? '');
  if (value === undefined) return undefined;
  const size = 2 ** (32 - Number(length));
  return { base: value - (value % size), length: Number(length) };
}

export function prefixesOverlap(a: Ipv4Prefix, b: Ipv4Prefix): boolean {
  const aEnd = a.base + 2 ** (32 - a.length);
  const bEnd = b.base + 2 ** (32 - b.length);
  return a.base < bEnd && b.base < aEnd;
}

/** The site subnet option: an IPv4 /24 given by its network address. */
export function parseSiteSubnet(text: string): Ipv4Prefix {
  const prefix = parseIpv4Prefix(text);
  if (!prefix || prefix.length !== 24 || formatIpv4(prefix.base) !== text.split('/')[0])
    throw new Error(`site network subnet must be an IPv4 /24 network such as 10.231.7.0/24, not '${text}'`);
  return prefix;
}

/** The lab's addresses on a /24: gateway .1, servers .10–.99, the VIP .100. */
export function siteAddresses(subnet: Ipv4Prefix): {
  gateway: string;
  vip: string;
  server: (n: number) => string;
} {
  return {
    gateway: formatIpv4(subnet.base + GATEWAY_HOST),
    vip: formatIpv4(subnet.base + VIP_HOST),
    server: (n) => {
      if (!Number.isInteger(n) || n < 0 || n > SERVER_MAX)
        throw new Error(`server index ${n} is outside 0..${SERVER_MAX} of the site network`);
      return formatIpv4(subnet.base + SERVER_BASE + n);
    },
  };
}

/** QEMU's user network behind each server's first NIC: the service is 10.0.2.2, a DNS proxy 10.0.2.3. */
export const GUEST_GATEWAY = '10.0.2.2';
export const GUEST_DNS = '10.0.2.3';

/** The address a host's first NIC gets on QEMU's user network (each VM has its own, so they may repeat). */
export function guestAddress(index: number): string {
  return `10.0.2.${51 + index}`;
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
export function siteHostNetworkData(bootMac: string, siteMac: string, a: SiteAddressing): string {
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

export interface SiteOwner {
  pid: number;
  startTicks: string;
}

/**
 * Names of one site network: the namespace carries id and owner; root-namespace links are
 * `os-<id>-gw` (veth to the bridge) and `os-<id>-<n>` (taps), at most 15 characters (IFNAMSIZ).
 */
export function siteNames(id: string, owner: SiteOwner) {
  if (!ID.test(id)) throw new Error(`site network id must be 1-6 characters of [a-z0-9], not '${id}'`);
  return {
    namespace: `${NAMESPACE_PREFIX}${id}-${owner.pid}-${owner.startTicks}`,
    gatewayLink: `os-${id}-gw`,
    tap: (n: number) => `os-${id}-${n.toString(36)}`,
  };
}

/** The id and owner a namespace name carries, or undefined for a name that is not a site network's. */
export function parseNamespaceName(name: string): ({ id: string } & SiteOwner) | undefined {
  const match = /^outpost-site-([a-z0-9]{1,6})-([1-9]\d*)-(\d+)$/.exec(name);
  if (!match) return undefined;
  return { id: match[1]!, pid: Number(match[2]), startTicks: match[3]! };
}

/** The site network id of a root-namespace link the lab made (`os-<id>-...`), or undefined. */
export function linkSiteId(link: string): string | undefined {
  return /^os-([a-z0-9]{1,6})-[a-z0-9]+$/.exec(link)?.[1];
}

/** Subnets the lab picks from when none is given: 10.231.X.0/24, starting at a random X. */
export function candidateSubnets(start: number): Ipv4Prefix[] {
  const base = parseIpv4('10.231.0.0')!;
  return Array.from({ length: 256 }, (_, i) => ({ base: base + ((start + i) % 256) * 256, length: 24 }));
}

// ---- I/O ---------------------------------------------------------------------------------------------

async function ip(args: string[], namespace?: string): Promise<string> {
  const full = namespace ? ['-n', namespace, ...args] : args;
  // Imported here, not at the top: the CLI imports this module for every command (start-up time).
  const { execa } = await import('execa');
  const result = await execa('ip', full, { reject: false });
  if (result.exitCode !== 0)
    throw new Error(
      `ip ${full.join(' ')} failed: ${String(result.stderr).trim() || `exit ${result.exitCode}`}`,
    );
  return String(result.stdout);
}

async function ipQuiet(args: string[], namespace?: string): Promise<void> {
  await ip(args, namespace).catch(() => {});
}

/** IPv4 prefixes this machine routes (all tables), except default routes. */
async function routedPrefixes(): Promise<{ prefix: Ipv4Prefix; dev: string; text: string }[]> {
  const routes = JSON.parse((await ip(['-j', '-4', 'route', 'show', 'table', 'all'])) || '[]') as {
    dst?: string;
    dev?: string;
  }[];
  const result: { prefix: Ipv4Prefix; dev: string; text: string }[] = [];
  for (const route of routes) {
    if (!route.dst || route.dst === 'default') continue;
    const prefix = parseIpv4Prefix(route.dst);
    if (prefix) result.push({ prefix, dev: route.dev ?? '', text: route.dst });
  }
  return result;
}

async function listNamespaces(): Promise<string[]> {
  const out = await ip(['-j', 'netns', 'list']).catch(() => '');
  if (!out.trim()) return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

/** The root namespace's links that can be a site network's: taps and veths (`ip -d` names their kind). */
async function rootTapsAndVeths(): Promise<string[]> {
  const links = JSON.parse((await ip(['-d', '-j', 'link', 'show'])) || '[]') as {
    ifname: string;
    linkinfo?: { info_kind?: string };
  }[];
  return links.filter((l) => ['tun', 'veth'].includes(l.linkinfo?.info_kind ?? '')).map((l) => l.ifname);
}

function ownerAlive(owner: SiteOwner): boolean {
  return procStat(owner.pid)?.startTicks === owner.startTicks;
}

/**
 * Removes what labs that are gone left behind: their namespaces (which takes the bridge, the attached
 * taps and the veth pair with them) and the taps they had not attached yet. Only taps and veths named
 * `os-<id>-…` whose id has no live namespace are deleted.
 */
export async function reclaimSiteNetworks(): Promise<string[]> {
  const reclaimed: string[] = [];
  const liveIds = new Set<string>();
  // Links first: a lab creates its namespace before its links, so every link listed here whose lab is
  // alive has its namespace in the list read next (a lab starting meanwhile is never mistaken for a dead one).
  const links = await rootTapsAndVeths();
  for (const namespace of await listNamespaces()) {
    const parsed = parseNamespaceName(namespace);
    if (!parsed) continue;
    if (ownerAlive(parsed)) {
      liveIds.add(parsed.id);
      continue;
    }
    await ipQuiet(['netns', 'delete', namespace]);
    reclaimed.push(namespace);
  }
  for (const link of links) {
    const id = linkSiteId(link);
    if (id === undefined || liveIds.has(id)) continue;
    await ipQuiet(['link', 'delete', link]);
    reclaimed.push(link);
  }
  return reclaimed;
}

export async function createSiteNetwork(o: SiteNetworkOptions = {}): Promise<SiteNetwork> {
  // Options are checked before anything on the machine changes.
  const requested = o.subnet === undefined ? undefined : parseSiteSubnet(o.subnet);
  const owner = procStat(process.pid);
  if (!owner) throw new Error('cannot read this process start time from /proc');
  const id = o.id ?? randomBytes(4).readUInt32BE().toString(36).slice(0, 6);
  const names = siteNames(id, { pid: process.pid, startTicks: owner.startTicks });
  await reclaimSiteNetworks();
  if ((await listNamespaces()).some((n) => parseNamespaceName(n)?.id === id))
    throw new Error(`a site network with id '${id}' exists already`);
  const namespace = names.namespace;
  const taps = new Set<string>();
  let tapCount = 0;
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    await ipQuiet(['netns', 'delete', namespace]);
    for (const link of [names.gatewayLink, ...taps]) await ipQuiet(['link', 'delete', link]);
    taps.clear();
  };

  try {
    await ip(['netns', 'add', namespace]);
    await ip(['link', 'set', 'lo', 'up'], namespace);
    await ip(['link', 'add', BRIDGE, 'type', 'bridge'], namespace);
    await ip(['link', 'set', BRIDGE, 'up'], namespace);
    await ip(['link', 'add', names.gatewayLink, 'type', 'veth', 'peer', 'name', PEER, 'netns', namespace]);
    await ip(['link', 'set', PEER, 'master', BRIDGE, 'up'], namespace);
    // Up first: the kernel adds the subnet's route (which claimSubnet checks) only on an up link.
    await ip(['link', 'set', names.gatewayLink, 'up']);
    const subnet = await claimSubnet(names.gatewayLink, requested);
    const addresses = siteAddresses(subnet);
    return {
      namespace,
      subnet: `${formatIpv4(subnet.base)}/24`,
      prefixLength: 24,
      gateway: addresses.gateway,
      vip: addresses.vip,
      bridge: BRIDGE,
      serverAddress: addresses.server,
      createTap: async () => {
        if (closed) throw new Error('the site network is closed');
        const tap = names.tap(tapCount++);
        await ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
        taps.add(tap);
        return tap;
      },
      attach: async (link) => {
        if (closed) throw new Error('the site network is closed');
        await ip(['link', 'set', link, 'netns', namespace]);
        await ip(['link', 'set', link, 'master', BRIDGE, 'up'], namespace);
      },
      removeTap: async (tap) => {
        taps.delete(tap);
        await ipQuiet(['link', 'delete', tap], namespace);
        await ipQuiet(['link', 'delete', tap]);
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Puts the gateway address of a free /24 on the veth: the requested one, refused when this machine routes
 * any part of it already, or the first free 10.231.X.0/24. Two labs starting together may pick the same
 * one: after adding it, a second route for it means another lab won, so this one moves on.
 */
async function claimSubnet(link: string, requested: Ipv4Prefix | undefined): Promise<Ipv4Prefix> {
  const candidates = requested ? [requested] : candidateSubnets(randomBytes(1)[0]!);
  for (const subnet of candidates) {
    const clash = (await routedPrefixes()).find((r) => prefixesOverlap(r.prefix, subnet));
    if (clash) {
      if (requested)
        throw new Error(
          `site network subnet ${formatIpv4(subnet.base)}/24 is already routed on this machine (${clash.text} dev ${clash.dev}); choose another`,
        );
      continue;
    }
    const cidr = `${siteAddresses(subnet).gateway}/24`;
    await ip(['addr', 'add', cidr, 'dev', link]);
    const others = (await routedPrefixes()).filter(
      (r) => r.dev !== link && prefixesOverlap(r.prefix, subnet),
    );
    if (others.length === 0) return subnet;
    await ipQuiet(['addr', 'delete', cidr, 'dev', link]);
    if (requested) throw new Error(`site network subnet ${formatIpv4(subnet.base)}/24 was taken meanwhile`);
  }
  throw new Error('no free 10.231.X.0/24 for the site network: every one is routed on this machine');
}
