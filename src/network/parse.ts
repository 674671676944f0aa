import { isIPv4, isIPv6 } from 'node:net';
import type { Diagnostic } from '../common/diagnostics.ts';
import { isInterfaceName } from '../common/names.ts';
import { type YamlCursor, YamlSource } from '../common/yaml-cursor.ts';
import {
  type BondConfig,
  INTERFACE_TYPES,
  type InterfaceType,
  type IpAddress,
  type IpConfig,
  type LinuxBridgeConfig,
  type NetInterface,
  type NetworkState,
  type OvsBridgeConfig,
  type Route,
} from './model.ts';

export interface ParsedHostFile {
  state: NetworkState | undefined;
  diagnostics: Diagnostic[];
}

const SECTION = 'Network';
const MAC_RE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;
const IFNAME_RULE =
  "at most 15 letters, digits, '_', '.', '+', '@' or '-', starting with a letter, digit or '_'";

export const BOND_MODES = [
  'balance-rr',
  'active-backup',
  'balance-xor',
  'broadcast',
  '802.3ad',
  'balance-tlb',
  'balance-alb',
] as const;

/** Kernel bonding options NetworkManager's `[bond]` setting accepts (nmstate passes them through). */
export const BOND_OPTIONS = [
  'miimon',
  'updelay',
  'downdelay',
  'use_carrier',
  'xmit_hash_policy',
  'lacp_rate',
  'ad_select',
  'ad_actor_sys_prio',
  'ad_user_port_key',
  'min_links',
  'primary',
  'primary_reselect',
  'fail_over_mac',
  'arp_interval',
  'arp_ip_target',
  'arp_validate',
  'arp_all_targets',
  'all_slaves_active',
  'resend_igmp',
  'num_grat_arp',
  'packets_per_slave',
  'peer_notif_delay',
  'lp_interval',
  'tlb_dynamic_lb',
] as const;

/** nmstate linux-bridge `options` (and `options.stp`) and the NetworkManager `[bridge]` key each becomes. */
const LINUX_BRIDGE_OPTIONS: Record<string, string> = {
  'mac-ageing-time': 'ageing-time',
  'multicast-snooping': 'multicast-snooping',
  'group-forward-mask': 'group-forward-mask',
};
const LINUX_BRIDGE_STP: Record<string, string> = {
  enabled: 'stp',
  'forward-delay': 'forward-delay',
  'hello-time': 'hello-time',
  'max-age': 'max-age',
  priority: 'priority',
};
const OVS_BRIDGE_OPTIONS: Record<string, string> = {
  stp: 'stp-enable',
  rstp: 'rstp-enable',
  'mcast-snooping-enable': 'mcast-snooping-enable',
};

/**
 * Parses one nmstate host file. Every problem is reported with file, line and field; anything outside
 * the supported subset is an error rather than silently ignored, so a profile never differs from intent.
 */
export function parseHostFile(file: string, text: string): ParsedHostFile {
  const source = new YamlSource(file, text, {}, SECTION);
  if (!source.ok) return { state: undefined, diagnostics: source.diagnostics };
  const root = source.root;
  if (!root.present) {
    root.error('the host file is empty: it must define interfaces');
    return { state: undefined, diagnostics: source.diagnostics };
  }
  root.keys(['interfaces', 'routes', 'dns-resolver']);
  const interfaces = parseInterfaces(root.get('interfaces'));
  const known = new Map(interfaces.map((i) => [i.name, i]));
  const routes = parseRoutes(root.get('routes'), known);
  const dns = parseDns(root.get('dns-resolver'));
  const state: NetworkState = { interfaces, routes, dns };
  if (source.ok) checkDnsHolder(root.get('dns-resolver'), state);
  return { state: source.ok ? state : undefined, diagnostics: source.diagnostics };
}

function parseInterfaces(list: YamlCursor): NetInterface[] {
  if (!list.present) {
    list.error('is required: list the host interfaces');
    return [];
  }
  const result: NetInterface[] = [];
  const seen = new Map<string, string>();
  for (const item of list.items()) {
    const iface = parseInterface(item);
    if (!iface) continue;
    const previous = seen.get(iface.name);
    if (previous) item.get('name').error(`interface '${iface.name}' is already defined at ${previous}`);
    seen.set(iface.name, `line ${iface.line}`);
    result.push(iface);
  }
  checkReferences(list, result);
  return result;
}

const INTERFACE_KEYS = [
  'name',
  'type',
  'state',
  'description',
  'mac-address',
  'identifier',
  'mtu',
  'ipv4',
  'ipv6',
  'ethernet',
  'link-aggregation',
  'vlan',
  'bridge',
];

function parseInterface(c: YamlCursor): NetInterface | undefined {
  if (!c.isMap) {
    c.error('must be a mapping with name and type');
    return undefined;
  }
  c.keys(INTERFACE_KEYS);
  const nameC = c.get('name');
  const name = nameC.string({ required: true, env: false });
  if (name !== undefined && !isInterfaceName(name)) {
    nameC.error(`'${name}' is not a valid interface name (${IFNAME_RULE})`);
  }
  const type = c.get('type').oneOf(INTERFACE_TYPES, { required: true });
  const state = c.get('state').oneOf(['up', 'down', 'absent'] as const) ?? 'up';
  const macC = c.get('mac-address');
  const mac = macC.string({ env: false });
  if (mac !== undefined && !MAC_RE.test(mac)) {
    macC.error(`'${mac}' is not a MAC address (six hex pairs separated by ':')`);
  }
  const identifierC = c.get('identifier');
  const identifier = identifierC.oneOf(['name', 'mac-address'] as const) ?? 'name';
  if (identifier === 'mac-address' && mac === undefined) {
    identifierC.error("'mac-address' needs the interface's mac-address field");
  }
  if (identifier === 'mac-address' && type !== undefined && type !== 'ethernet') {
    identifierC.error('only ethernet interfaces can be identified by mac-address');
  }
  const mtu = c.get('mtu').integer({ min: 68, max: 65536 });
  const [line] = c.position();
  if (name === undefined || type === undefined || !isInterfaceName(name)) return undefined;

  const iface: NetInterface = {
    name,
    type,
    state,
    identifier,
    ipv4: parseIp(c.get('ipv4'), 4),
    ipv6: parseIp(c.get('ipv6'), 6),
    line,
  };
  const description = c.get('description').string({ env: false });
  if (description !== undefined) iface.description = description;
  if (mac !== undefined && MAC_RE.test(mac)) {
    iface.macAddress = mac.toUpperCase();
    iface.macAddressAsWritten = mac;
  }
  if (mtu !== undefined) iface.mtu = mtu;
  if (type === 'loopback' && name !== 'lo') nameC.error("a loopback interface must be named 'lo'");
  if (type === 'loopback') {
    // NetworkManager only manages lo with static addressing; disabled or dynamic IP is refused.
    for (const [family, ip] of [
      ['ipv4', iface.ipv4],
      ['ipv6', iface.ipv6],
    ] as const) {
      if (!ip.enabled || ip.dhcp || ip.autoconf) {
        c.get(family).error(
          'a loopback interface needs enabled: true with static addresses (no dhcp/autoconf)',
        );
      }
    }
  }

  onlyFor(c, 'ethernet', type, ['ethernet']);
  onlyFor(c, 'link-aggregation', type, ['bond']);
  onlyFor(c, 'vlan', type, ['vlan']);
  onlyFor(c, 'bridge', type, ['linux-bridge', 'ovs-bridge']);
  if (type === 'ethernet') {
    const eth = parseEthernet(c.get('ethernet'));
    if (eth) iface.ethernet = eth;
  }
  if (type === 'bond') iface.bond = parseBond(c.get('link-aggregation'), state);
  if (type === 'vlan') {
    const vlan = parseVlan(c.get('vlan'), state);
    if (vlan) iface.vlan = vlan;
  }
  if (type === 'linux-bridge') iface.linuxBridge = parseLinuxBridge(c.get('bridge'));
  if (type === 'ovs-bridge') {
    iface.ovsBridge = parseOvsBridge(c.get('bridge'), state);
    for (const family of ['ipv4', 'ipv6'] as const) {
      const ip = c.get(family);
      if (iface[family].enabled) ip.error('an ovs-bridge carries no IP: put addresses on an ovs-interface');
    }
  }
  return iface;
}

function onlyFor(c: YamlCursor, key: string, type: InterfaceType | undefined, types: InterfaceType[]): void {
  const field = c.get(key);
  if (field.present && type !== undefined && !types.includes(type)) {
    field.error(`is only valid for interfaces of type ${types.join(' or ')}, not ${type}`);
  }
}

function parseIp(c: YamlCursor, family: 4 | 6): IpConfig {
  const ip: IpConfig = { enabled: false, dhcp: false, autoconf: false, addresses: [] };
  if (!c.present) return ip;
  const keys = [
    'enabled',
    'dhcp',
    'address',
    'auto-dns',
    'auto-gateway',
    'auto-routes',
    'auto-route-table-id',
  ];
  c.keys(family === 6 ? [...keys, 'autoconf'] : keys);
  ip.enabled = c.get('enabled').boolean() ?? false;
  ip.dhcp = c.get('dhcp').boolean() ?? false;
  ip.autoconf = family === 6 ? (c.get('autoconf').boolean() ?? false) : false;
  for (const item of c.get('address').items()) {
    const address = parseAddress(item, family);
    if (address) ip.addresses.push(address);
  }
  const autoDns = c.get('auto-dns').boolean();
  const autoGateway = c.get('auto-gateway').boolean();
  const autoRoutes = c.get('auto-routes').boolean();
  const tableId = c.get('auto-route-table-id').integer({ min: 0, max: 4294967295 });
  if (autoDns !== undefined) ip.autoDns = autoDns;
  if (autoGateway !== undefined) ip.autoGateway = autoGateway;
  if (autoRoutes !== undefined) ip.autoRoutes = autoRoutes;
  if (tableId !== undefined) ip.autoRouteTableId = tableId;
  const dynamic = ip.dhcp || ip.autoconf;
  for (const key of ['auto-dns', 'auto-gateway', 'auto-routes', 'auto-route-table-id']) {
    if (c.get(key).present && !dynamic)
      c.get(key).error(`only applies with dhcp${family === 6 ? ' or autoconf' : ''}`);
  }
  if (!ip.enabled && (ip.dhcp || ip.autoconf || ip.addresses.length)) {
    c.get('enabled').error(`ipv${family} settings are given but enabled is not true`);
  }
  return ip;
}

function parseAddress(c: YamlCursor, family: 4 | 6): IpAddress | undefined {
  if (!c.isMap) {
    c.error('must be a mapping with ip and prefix-length');
    return undefined;
  }
  c.keys(['ip', 'prefix-length', 'valid-left', 'preferred-left']);
  const ipC = c.get('ip');
  const ip = ipC.string({ required: true, env: false });
  const prefixLength = c
    .get('prefix-length')
    .integer({ required: true, min: 0, max: family === 4 ? 32 : 128 });
  if (ip === undefined || prefixLength === undefined) return undefined;
  if (!(family === 4 ? isIPv4(ip) : isIPv6(ip))) {
    ipC.error(`'${ip}' is not an IPv${family} address`);
    return undefined;
  }
  // nmstate reports DHCP/SLAAC leases with their remaining lifetime and link-local addresses, which a
  // desired state copied from `nmstatectl show` contains; neither is configuration, so both are dropped.
  const lifetime = (key: string) => c.get(key).string({ env: false });
  if ([lifetime('valid-left'), lifetime('preferred-left')].some((v) => v !== undefined && v !== 'forever')) {
    return undefined;
  }
  if (family === 6 && /^fe[89ab]/i.test(ip)) return undefined;
  return { ip, prefixLength };
}

function parseEthernet(c: YamlCursor): NetInterface['ethernet'] | undefined {
  if (!c.present) return undefined;
  c.keys(['auto-negotiation', 'speed', 'duplex']);
  const eth: NonNullable<NetInterface['ethernet']> = {};
  const autoNegotiation = c.get('auto-negotiation').boolean();
  const speed = c.get('speed').integer({ min: 1, max: 4294967295 });
  const duplex = c.get('duplex').oneOf(['full', 'half'] as const);
  if (autoNegotiation !== undefined) eth.autoNegotiation = autoNegotiation;
  if (speed !== undefined) eth.speed = speed;
  if (duplex !== undefined) eth.duplex = duplex;
  if (autoNegotiation === false && (speed === undefined || duplex === undefined) && eth.speed !== undefined) {
    c.get('duplex').error('is required with a fixed speed');
  }
  return eth;
}

/** Port names become interface names and file names: the interface name rule applies to them too. */
function portNames(c: YamlCursor): string[] {
  const names: string[] = [];
  for (const item of c.items()) {
    if (item.isMap) item.keys(['name']);
    const field = item.isMap ? item.get('name') : item;
    const name = field.string({ required: true, env: false });
    if (name === undefined) continue;
    if (!isInterfaceName(name)) field.error(`'${name}' is not a valid port name (${IFNAME_RULE})`);
    else names.push(name);
  }
  return names;
}

function parseBond(c: YamlCursor, state: string): BondConfig {
  const bond: BondConfig = { mode: 'balance-rr', options: [], ports: [] };
  if (!c.present) {
    if (state !== 'absent') c.error('is required for a bond: give its mode and ports');
    return bond;
  }
  c.keys(['mode', 'options', 'port', 'ports']);
  bond.mode = c.get('mode').oneOf(BOND_MODES, { required: state !== 'absent' }) ?? 'balance-rr';
  const options = c.get('options');
  for (const key of options.keys(BOND_OPTIONS)) {
    const value = options.get(key);
    const text = value.isList ? value.strings({ env: false }).join(',') : value.string({ env: false });
    if (text !== undefined && (BOND_OPTIONS as readonly string[]).includes(key))
      bond.options.push([key, text]);
  }
  if (c.get('port').present && c.get('ports').present)
    c.get('ports').error("use either 'port' or 'ports', not both");
  bond.ports = portNames(c.get('port').present ? c.get('port') : c.get('ports'));
  return bond;
}

function parseVlan(c: YamlCursor, state: string): NetInterface['vlan'] | undefined {
  if (!c.present) {
    if (state !== 'absent') c.error('is required for a vlan: give base-iface and id');
    return undefined;
  }
  c.keys(['base-iface', 'id']);
  const baseIface = c.get('base-iface').string({ required: true, env: false });
  if (baseIface !== undefined && !isInterfaceName(baseIface)) {
    c.get('base-iface').error(`'${baseIface}' is not a valid interface name (${IFNAME_RULE})`);
    return undefined;
  }
  const id = c.get('id').integer({ required: true, min: 0, max: 4094 });
  return baseIface === undefined || id === undefined ? undefined : { baseIface, id };
}

function parseLinuxBridge(c: YamlCursor): LinuxBridgeConfig {
  const bridge: LinuxBridgeConfig = { options: [], ports: [] };
  if (!c.present) return bridge;
  c.keys(['options', 'port']);
  const options = c.get('options');
  for (const key of options.keys([...Object.keys(LINUX_BRIDGE_OPTIONS), 'stp'])) {
    if (key === 'stp') {
      const stp = options.get('stp');
      for (const stpKey of stp.keys(Object.keys(LINUX_BRIDGE_STP))) {
        const nmKey = LINUX_BRIDGE_STP[stpKey];
        const value =
          stpKey === 'enabled'
            ? stp.get(stpKey).boolean()
            : stp.get(stpKey).integer({ min: 0, max: 4294967295 });
        if (nmKey && value !== undefined) bridge.options.push([nmKey, String(value)]);
      }
      continue;
    }
    const nmKey = LINUX_BRIDGE_OPTIONS[key];
    const value = options.get(key);
    const v = key === 'multicast-snooping' ? value.boolean() : value.integer({ min: 0, max: 4294967295 });
    if (nmKey && v !== undefined) bridge.options.push([nmKey, String(v)]);
  }
  for (const port of c.get('port').items()) {
    if (port.isMap) port.keys(['name']);
  }
  bridge.ports = portNames(c.get('port'));
  return bridge;
}

function parseOvsBridge(c: YamlCursor, state: string): OvsBridgeConfig {
  const bridge: OvsBridgeConfig = { options: [], ports: [] };
  if (!c.present) {
    if (state !== 'absent') c.error('is required for an ovs-bridge: list its ports');
    return bridge;
  }
  c.keys(['options', 'port']);
  const options = c.get('options');
  for (const key of options.keys(Object.keys(OVS_BRIDGE_OPTIONS))) {
    const value = options.get(key).boolean();
    const nmKey = OVS_BRIDGE_OPTIONS[key];
    if (nmKey && value !== undefined) bridge.options.push([nmKey, String(value)]);
  }
  bridge.ports = portNames(c.get('port'));
  if (!bridge.ports.length && state !== 'absent')
    c.get('port').error('an ovs-bridge needs at least one port');
  return bridge;
}

/** Ports, VLAN parents and controllers must refer to interfaces that will exist, each used once. */
function checkReferences(list: YamlCursor, interfaces: NetInterface[]): void {
  const byName = new Map(interfaces.map((i) => [i.name, i]));
  const controllerOf = new Map<string, string>();
  // One pass to index the list items by name: a lookup per interface would be quadratic.
  const itemOf = new Map<string, YamlCursor>();
  for (const item of list.items()) {
    const name = item.get('name');
    if (name.present && !itemOf.has(String((name.node as { value?: unknown }).value))) {
      itemOf.set(String((name.node as { value?: unknown }).value), item);
    }
  }
  interfaces.forEach((iface) => {
    const c = itemOf.get(iface.name) ?? list;
    const ports =
      iface.bond?.ports.map((p) => [p, c.get('link-aggregation')] as const) ??
      iface.linuxBridge?.ports.map((p) => [p, c.get('bridge').get('port')] as const) ??
      iface.ovsBridge?.ports.map((p) => [p, c.get('bridge').get('port')] as const) ??
      [];
    for (const [port, where] of ports) {
      if (port === iface.name) where.error(`'${iface.name}' cannot be a port of itself`);
      const previous = controllerOf.get(port);
      if (previous) where.error(`'${port}' is already a port of '${previous}'`);
      controllerOf.set(port, iface.name);
      const target = byName.get(port);
      if (target?.state === 'absent') where.error(`port '${port}' is marked absent`);
      if (target && target.type !== 'ovs-interface' && (target.ipv4.enabled || target.ipv6.enabled)) {
        where.error(`port '${port}' has ipv4/ipv6 enabled: a port carries no IP of its own`);
      }
      if (target && iface.type !== 'ovs-bridge' && target.type === 'ovs-interface') {
        where.error(`ovs-interface '${port}' can only be a port of an ovs-bridge`);
      }
      if (
        iface.type === 'ovs-bridge' &&
        target &&
        !['ethernet', 'ovs-interface', 'bond'].includes(target.type)
      ) {
        where.error(`'${port}' (${target.type}) cannot be an ovs-bridge port`);
      }
    }
    if (iface.vlan && !byName.has(iface.vlan.baseIface)) {
      c.get('vlan')
        .get('base-iface')
        .error(`base interface '${iface.vlan.baseIface}' is not defined in this file`);
    }
  });
  interfaces.forEach((iface) => {
    if (iface.type === 'ovs-interface' && iface.state !== 'absent' && !controllerOf.has(iface.name)) {
      const c = itemOf.get(iface.name) ?? list;
      c.get('name').error(`ovs-interface '${iface.name}' is not a port of any ovs-bridge`);
    }
  });
}

function parseRoutes(c: YamlCursor, interfaces: Map<string, NetInterface>): Route[] {
  if (!c.present) return [];
  c.keys(['config', 'running']);
  const routes: Route[] = [];
  for (const item of c.get('config').items()) {
    if (!item.isMap) {
      item.error('must be a mapping with destination and next-hop-interface');
      continue;
    }
    item.keys(['destination', 'next-hop-address', 'next-hop-interface', 'metric', 'table-id', 'state']);
    if (item.get('state').oneOf(['absent'] as const) === 'absent') continue;
    const destC = item.get('destination');
    const destination = destC.string({ required: true, env: false });
    const hopC = item.get('next-hop-address');
    const nextHopAddress = hopC.string({ env: false });
    const ifaceC = item.get('next-hop-interface');
    const nextHopInterface = ifaceC.string({ required: true, env: false });
    const metric = item.get('metric').integer({ min: 0, max: 4294967295 });
    const tableId = item.get('table-id').integer({ min: 0, max: 4294967295 });
    if (destination === undefined || nextHopInterface === undefined) continue;
    const family = cidrFamily(destination);
    if (!family) {
      destC.error(`'${destination}' is not an IPv4 or IPv6 network in CIDR form (e.g. 0.0.0.0/0)`);
      continue;
    }
    if (
      nextHopAddress !== undefined &&
      nextHopAddress !== '' &&
      !(family === 4 ? isIPv4 : isIPv6)(nextHopAddress)
    ) {
      hopC.error(`'${nextHopAddress}' is not an IPv${family} address like the destination`);
      continue;
    }
    const iface = interfaces.get(nextHopInterface);
    if (!iface || iface.state === 'absent') {
      ifaceC.error(
        `interface '${nextHopInterface}' is not defined${iface ? ' (it is marked absent)' : ''} in this file`,
      );
      continue;
    }
    if (!(family === 4 ? iface.ipv4 : iface.ipv6).enabled) {
      ifaceC.error(`interface '${nextHopInterface}' does not have ipv${family} enabled`);
      continue;
    }
    const route: Route = { destination, nextHopInterface, family };
    if (nextHopAddress) route.nextHopAddress = nextHopAddress;
    if (metric !== undefined) route.metric = metric;
    if (tableId !== undefined) route.tableId = tableId;
    routes.push(route);
  }
  return routes;
}

function cidrFamily(cidr: string): 4 | 6 | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return undefined;
  const prefix = Number(m[2]);
  if (isIPv4(m[1]!) && prefix <= 32) return 4;
  if (isIPv6(m[1]!) && prefix <= 128) return 6;
  return undefined;
}

function parseDns(c: YamlCursor): NetworkState['dns'] {
  const dns = { servers: [] as string[], search: [] as string[] };
  if (!c.present) return dns;
  c.keys(['config', 'running']);
  const config = c.get('config');
  config.keys(['server', 'search']);
  for (const item of config.get('server').items()) {
    const server = item.string({ required: true, env: false });
    if (server === undefined) continue;
    if (!isIPv4(server) && !isIPv6(server)) item.error(`'${server}' is not an IP address`);
    else dns.servers.push(server);
  }
  dns.search = config.get('search').strings({ env: false });
  return dns;
}

/**
 * nmstate stores DNS on one interface per family, preferring the one that holds the default route,
 * then any interface with static addresses of that family. Without such an interface it is an error.
 */
export function dnsHolder(state: NetworkState, family: 4 | 6): NetInterface | undefined {
  const usable = (i: NetInterface) => i.state !== 'absent' && (family === 4 ? i.ipv4 : i.ipv6).enabled;
  const defaultDest = family === 4 ? '0.0.0.0/0' : '::/0';
  const viaDefault = state.routes.find((r) => r.family === family && r.destination === defaultDest);
  const byName = (name: string) => state.interfaces.find((i) => i.name === name);
  const gatewayIface = viaDefault ? byName(viaDefault.nextHopInterface) : undefined;
  if (gatewayIface && usable(gatewayIface)) return gatewayIface;
  const ip = (i: NetInterface) => (family === 4 ? i.ipv4 : i.ipv6);
  return (
    state.interfaces.find((i) => usable(i) && ip(i).addresses.length > 0) ??
    state.interfaces.find((i) => usable(i) && (ip(i).dhcp || ip(i).autoconf))
  );
}

function checkDnsHolder(c: YamlCursor, state: NetworkState): void {
  for (const family of [4, 6] as const) {
    const servers = state.dns.servers.filter((s) => (family === 4 ? isIPv4(s) : isIPv6(s)));
    const needed =
      servers.length > 0 || (family === 4 && state.dns.search.length > 0 && !dnsHolder(state, 6));
    if (needed && !dnsHolder(state, family)) {
      c.get('config').error(`no interface has ipv${family} enabled to carry the IPv${family} DNS settings`);
    }
  }
}
