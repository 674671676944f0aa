import { isIPv4 } from 'node:net';
import { connectionUuid, type Keyfile, type KeyfileSection } from './keyfile.ts';
import type { InterfaceType, IpConfig, NetInterface, NetworkState, Route } from './model.ts';
import { dnsHolder } from './parse.ts';

/** One interface of a host in the host map (nm-configurator's `host_config.yaml`). */
export interface HostMapInterface {
  logical_name: string;
  connection_ids: string[];
  mac_address?: string;
  interface_type: InterfaceType;
}

export interface RenderedHost {
  profiles: Keyfile[];
  interfaces: HostMapInterface[];
}

const NM_TYPE: Record<InterfaceType | 'ovs-port', string> = {
  ethernet: '802-3-ethernet',
  bond: 'bond',
  vlan: 'vlan',
  'linux-bridge': 'bridge',
  dummy: 'dummy',
  loopback: 'loopback',
  'ovs-bridge': 'ovs-bridge',
  'ovs-interface': 'ovs-interface',
  'ovs-port': 'ovs-port',
};

/** nmstate's "wait for DHCP forever": a site whose DHCP server is late must still get its lease. */
const DHCP_TIMEOUT_FOREVER = '2147483647';
/** nmstate gives its static DNS this priority so DHCP-learned servers never go first. */
const DNS_PRIORITY = '40';

interface Controller {
  name: string;
  slaveType: 'bond' | 'bridge' | 'ovs-port';
}

/**
 * Renders a validated host state to NetworkManager profiles the way nmstate does (same ids, sections and
 * defaults), plus the host-map entry first boot uses to recognise the host and rename its interfaces.
 */
export function renderHost(host: string, state: NetworkState): RenderedHost {
  const live = state.interfaces.filter((i) => i.state !== 'absent');
  const controllers = new Map<string, Controller>();
  const ovsPortOf = new Map<string, string>();
  const implicit: NetInterface[] = [];
  const byName = new Map(live.map((i) => [i.name, i]));
  for (const iface of live) {
    const ports = iface.bond?.ports ?? iface.linuxBridge?.ports ?? iface.ovsBridge?.ports ?? [];
    for (const port of ports) {
      // nmstate treats a port that the file does not define as a plain ethernet interface.
      if (!byName.has(port)) {
        const added = plainEthernet(port, iface.line);
        byName.set(port, added);
        implicit.push(added);
      }
      if (iface.type === 'ovs-bridge') {
        ovsPortOf.set(port, iface.name);
        controllers.set(port, { name: port, slaveType: 'ovs-port' });
      } else {
        controllers.set(port, { name: iface.name, slaveType: iface.type === 'bond' ? 'bond' : 'bridge' });
      }
    }
  }
  const [dns4, dns6] = placeDns(state);
  const routesOf = new Map<string, Route[]>();
  for (const route of state.routes) {
    const list = routesOf.get(route.nextHopInterface) ?? [];
    list.push(route);
    routesOf.set(route.nextHopInterface, list);
  }
  const profiles: Keyfile[] = [];
  const interfaces: HostMapInterface[] = [];
  for (const iface of [...live, ...implicit]) {
    const ids: string[] = [];
    const bridge = ovsPortOf.get(iface.name);
    if (bridge) {
      const port = ovsPortProfile(host, iface, bridge);
      profiles.push(port);
      ids.push(port.id);
    }
    const profile = interfaceProfile(host, iface, controllers.get(iface.name), {
      routes: routesOf.get(iface.name) ?? [],
      dns4: dns4?.holder === iface ? dns4.dns : undefined,
      dns6: dns6?.holder === iface ? dns6.dns : undefined,
    });
    profiles.push(profile);
    ids.push(profile.id);
    if (iface.type === 'loopback') continue;
    const entry: HostMapInterface = {
      logical_name: iface.name,
      connection_ids: ids,
      interface_type: iface.type,
    };
    if (iface.macAddressAsWritten) entry.mac_address = iface.macAddressAsWritten;
    interfaces.push(entry);
  }
  return { profiles, interfaces };
}

type DnsOfFamily = { holder: NetInterface; dns: NetworkState['dns'] } | undefined;

/** Servers go to their family's holder; the search list goes once, to the IPv4 holder when there is one. */
function placeDns(state: NetworkState): [DnsOfFamily, DnsOfFamily] {
  const v4 = state.dns.servers.filter((s) => isIPv4(s));
  const v6 = state.dns.servers.filter((s) => !isIPv4(s));
  const h4 = dnsHolder(state, 4);
  const h6 = dnsHolder(state, 6);
  const searchOn4 = state.dns.search.length > 0 && h4 !== undefined && (v4.length > 0 || !v6.length || !h6);
  const place = (holder: NetInterface | undefined, servers: string[], search: string[]): DnsOfFamily =>
    holder && (servers.length || search.length) ? { holder, dns: { servers, search } } : undefined;
  return [place(h4, v4, searchOn4 ? state.dns.search : []), place(h6, v6, searchOn4 ? [] : state.dns.search)];
}

function plainEthernet(name: string, line: number): NetInterface {
  const off: IpConfig = { enabled: false, dhcp: false, autoconf: false, addresses: [] };
  return { name, type: 'ethernet', state: 'up', identifier: 'name', ipv4: off, ipv6: { ...off }, line };
}

export function connectionId(iface: NetInterface): string {
  if (iface.type === 'ovs-bridge') return `${iface.name}-br`;
  if (iface.type === 'ovs-interface') return `${iface.name}-if`;
  return iface.name;
}

function ovsPortProfile(host: string, iface: NetInterface, bridge: string): Keyfile {
  const id = `${iface.name}-port`;
  return {
    id,
    sections: [
      connectionSection(host, id, 'ovs-port', {
        autoconnect: iface.state !== 'down',
        controllerLike: true,
        interfaceName: iface.name,
        controller: { name: bridge, slaveType: 'ovs-bridge' },
      }),
      { name: 'ovs-port', entries: [] },
    ],
  };
}

interface DnsPlacement {
  routes: Route[];
  dns4: NetworkState['dns'] | undefined;
  dns6: NetworkState['dns'] | undefined;
}

function interfaceProfile(
  host: string,
  iface: NetInterface,
  controller: Controller | undefined,
  placement: DnsPlacement,
): Keyfile {
  const id = connectionId(iface);
  const controllerLike = ['bond', 'linux-bridge', 'ovs-bridge'].includes(iface.type);
  const sections: KeyfileSection[] = [
    connectionSection(host, id, iface.type, {
      autoconnect: iface.state !== 'down',
      controllerLike,
      interfaceName: iface.identifier === 'mac-address' ? undefined : iface.name,
      controller: controller ? { name: controller.name, slaveType: controller.slaveType } : undefined,
    }),
  ];
  const add = (name: string, entries: [string, string][]) => sections.push({ name, entries });

  if (iface.bond) add('bond', [['mode', iface.bond.mode], ...iface.bond.options]);
  if (iface.linuxBridge) add('bridge', iface.linuxBridge.options);
  if (iface.vlan)
    add('vlan', [
      ['id', String(iface.vlan.id)],
      ['parent', iface.vlan.baseIface],
    ]);
  if (iface.ovsBridge) add('ovs-bridge', iface.ovsBridge.options);
  if (iface.type === 'ovs-interface') add('ovs-interface', [['type', 'internal']]);

  // Ports carry no IP of their own, except an OVS internal interface, which is a port and a host interface.
  if (!controller || iface.type === 'ovs-interface') {
    add('ipv4', ipSection(iface.ipv4, 4, placement.routes, placement.dns4, iface.type));
    add('ipv6', ipSection(iface.ipv6, 6, placement.routes, placement.dns6, iface.type));
  }

  const ethernet = ethernetEntries(iface);
  if (ethernet.length || iface.type === 'ethernet') add('ethernet', ethernet);
  // NetworkManager's loopback MTU defaults to 65536, which nmstate leaves out; only a change is written.
  if (iface.type === 'loopback' && iface.mtu !== undefined && iface.mtu !== 65536) {
    add('loopback', [['mtu', String(iface.mtu)]]);
  }
  if (iface.description !== undefined) add('user', [['nmstate.interface.description', iface.description]]);
  return { id, sections };
}

function connectionSection(
  host: string,
  id: string,
  type: InterfaceType | 'ovs-port',
  opts: {
    autoconnect: boolean;
    controllerLike: boolean;
    interfaceName: string | undefined;
    controller: { name: string; slaveType: string } | undefined;
  },
): KeyfileSection {
  const entries: [string, string][] = [
    ['autoconnect', String(opts.autoconnect)],
    ['autoconnect-slaves', opts.controllerLike || type === 'ovs-port' ? '1' : '-1'],
    ['id', id],
  ];
  if (opts.interfaceName !== undefined) entries.push(['interface-name', opts.interfaceName]);
  if (opts.controller)
    entries.push(['master', opts.controller.name], ['slave-type', opts.controller.slaveType]);
  entries.push(['type', NM_TYPE[type]], ['uuid', connectionUuid(host, id)]);
  return { name: 'connection', entries };
}

function ethernetEntries(iface: NetInterface): [string, string][] {
  const entries: [string, string][] = [];
  const eth = iface.ethernet;
  if (eth?.autoNegotiation !== undefined) entries.push(['auto-negotiate', String(eth.autoNegotiation)]);
  if (eth?.duplex) entries.push(['duplex', eth.duplex]);
  if (iface.macAddress && iface.type !== 'loopback' && iface.type !== 'ovs-bridge') {
    // Identified by MAC: the profile binds to that NIC. Otherwise nmstate sets the MAC the interface uses.
    entries.push([
      iface.identifier === 'mac-address' ? 'mac-address' : 'cloned-mac-address',
      iface.macAddress,
    ]);
  }
  if (iface.mtu !== undefined && iface.type !== 'loopback') entries.push(['mtu', String(iface.mtu)]);
  if (eth?.speed !== undefined) entries.push(['speed', String(eth.speed)]);
  return entries;
}

function ipSection(
  ip: IpConfig,
  family: 4 | 6,
  allRoutes: Route[],
  dns: NetworkState['dns'] | undefined,
  type: InterfaceType,
): [string, string][] {
  const entries: [string, string][] = [];
  ip.addresses.forEach((a, i) => {
    entries.push([`address${i + 1}`, `${a.ip}/${a.prefixLength}`]);
  });
  if (family === 6 && ip.enabled) entries.push(['addr-gen-mode', '0']);
  if (ip.enabled && ip.dhcp) {
    if (family === 4) entries.push(['dhcp-client-id', 'mac'], ['dhcp-send-hostname', 'true']);
    else entries.push(['dhcp-duid', 'll'], ['dhcp-iaid', 'mac']);
  }
  entries.push(['dhcp-timeout', DHCP_TIMEOUT_FOREVER]);
  if (dns) {
    if (dns.servers.length) entries.push(['dns', `${dns.servers.join(';')};`]);
    entries.push(['dns-priority', DNS_PRIORITY]);
    if (dns.search.length) entries.push(['dns-search', `${dns.search.join(';')};`]);
  }
  const dynamic = ip.enabled && (ip.dhcp || ip.autoconf);
  if (dynamic) {
    entries.push(['ignore-auto-dns', String(ip.autoDns === false)]);
    entries.push(['ignore-auto-routes', String(ip.autoRoutes === false)]);
  }
  entries.push(['method', ipMethod(ip, family, type)]);
  if (dynamic) {
    entries.push(['never-default', String(ip.autoGateway === false)]);
    if (ip.autoRouteTableId !== undefined) entries.push(['route-table', String(ip.autoRouteTableId)]);
  }
  const routes = allRoutes.filter((r) => r.family === family);
  routes.forEach((r, i) => {
    const none = family === 4 ? '0.0.0.0' : '::';
    const parts = [r.destination];
    if (r.nextHopAddress || r.metric !== undefined) parts.push(r.nextHopAddress ?? none);
    if (r.metric !== undefined) parts.push(String(r.metric));
    entries.push([`route${i + 1}`, parts.join(',')]);
    if (r.tableId !== undefined) entries.push([`route${i + 1}_options`, `table=${r.tableId}`]);
  });
  return entries;
}

function ipMethod(ip: IpConfig, family: 4 | 6, type: InterfaceType): string {
  if (!ip.enabled || type === 'ovs-bridge') return 'disabled';
  if (family === 4) return ip.dhcp ? 'auto' : 'manual';
  if (ip.autoconf) return 'auto';
  if (ip.dhcp) return 'dhcp';
  return ip.addresses.length ? 'manual' : 'link-local';
}
