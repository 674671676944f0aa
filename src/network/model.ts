/**
 * The subset of nmstate's desired-state schema that outpost renders to NetworkManager keyfiles.
 * Values are already validated; `line` points back into the host file for later cross-checks.
 */
export type InterfaceType =
  | 'ethernet'
  | 'bond'
  | 'vlan'
  | 'linux-bridge'
  | 'dummy'
  | 'loopback'
  | 'ovs-bridge'
  | 'ovs-interface';

export const INTERFACE_TYPES: readonly InterfaceType[] = [
  'ethernet',
  'bond',
  'vlan',
  'linux-bridge',
  'dummy',
  'loopback',
  'ovs-bridge',
  'ovs-interface',
];

export type InterfaceState = 'up' | 'down' | 'absent';

export interface IpAddress {
  ip: string;
  prefixLength: number;
}

export interface IpConfig {
  enabled: boolean;
  dhcp: boolean;
  /** IPv6 router advertisements (SLAAC); always false for IPv4. */
  autoconf: boolean;
  /** Static addresses; link-local and dynamic (lifetime-limited) ones are already dropped. */
  addresses: IpAddress[];
  autoDns?: boolean;
  autoGateway?: boolean;
  autoRoutes?: boolean;
  autoRouteTableId?: number;
}

export interface BondConfig {
  mode: string;
  options: [string, string][];
  ports: string[];
}

export interface LinuxBridgeConfig {
  /** NetworkManager `[bridge]` settings in nmstate order, already translated (e.g. stp, forward-delay). */
  options: [string, string][];
  ports: string[];
}

export interface OvsBridgeConfig {
  options: [string, string][];
  ports: string[];
}

export interface NetInterface {
  name: string;
  type: InterfaceType;
  state: InterfaceState;
  description?: string;
  /** Upper-case colon form, as written in keyfiles. */
  macAddress?: string;
  /** As written in the host file: the host map keeps the user's spelling (nm-configurator does too). */
  macAddressAsWritten?: string;
  identifier: 'name' | 'mac-address';
  mtu?: number;
  ipv4: IpConfig;
  ipv6: IpConfig;
  ethernet?: { autoNegotiation?: boolean; speed?: number; duplex?: 'full' | 'half' };
  bond?: BondConfig;
  vlan?: { baseIface: string; id: number };
  linuxBridge?: LinuxBridgeConfig;
  ovsBridge?: OvsBridgeConfig;
  line: number;
}

export interface Route {
  destination: string;
  nextHopAddress?: string;
  nextHopInterface: string;
  metric?: number;
  tableId?: number;
  family: 4 | 6;
}

export interface DnsConfig {
  servers: string[];
  search: string[];
}

export interface NetworkState {
  interfaces: NetInterface[];
  routes: Route[];
  dns: DnsConfig;
}
