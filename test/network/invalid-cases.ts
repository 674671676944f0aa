/**
 * Invalid host files and the diagnostic each must produce: `LINE:COL: field: message` (a substring of
 * the message). `awk` is the line the first-boot generator reports, when it refuses the file too.
 */
export interface InvalidCase {
  name: string;
  yaml: string;
  expect: string;
  awk?: string;
}

const eth = (extra = '') => `interfaces:
  - name: eth0
    type: ethernet
    mac-address: "52:54:00:00:00:01"
${extra}`;

export const INVALID_CASES: InvalidCase[] = [
  {
    name: 'YAML syntax error',
    yaml: 'interfaces:\n  - name: eth0\n   type: [ethernet\n',
    expect: '3:',
    awk: ':3:',
  },
  { name: 'empty file', yaml: '# nothing\n', expect: '1:1: the host file is empty' },
  {
    name: 'no interfaces',
    yaml: 'routes:\n  config: []\n',
    expect: '1:1: interfaces: is required',
    awk: ':1: interfaces: is required',
  },
  {
    name: 'unknown top-level field',
    yaml: `${eth()}ovs-db:\n  external_ids: {}\n`,
    expect: "5:1: ovs-db: unknown field 'ovs-db'",
    awk: ':5: ovs-db: unknown field',
  },
  {
    name: 'misspelt interface field',
    yaml: eth('    mtuu: 1500\n'),
    expect: "5:5: interfaces[0].mtuu: unknown field 'mtuu' (did you mean 'mtu'?)",
    awk: ':5: interfaces[0].mtuu: unknown field',
  },
  {
    name: 'missing name',
    yaml: 'interfaces:\n  - type: ethernet\n',
    expect: '2:5: interfaces[0].name: is required',
    awk: ':2: interfaces[0].name: is required',
  },
  {
    name: 'unsupported type',
    yaml: 'interfaces:\n  - name: wg0\n    type: wireguard\n',
    expect: "3:11: interfaces[0].type: must be one of 'ethernet'",
    awk: ':3: interfaces[0].type: must be one of',
  },
  {
    name: 'bad state',
    yaml: eth('    state: sleeping\n'),
    expect: "5:12: interfaces[0].state: must be one of 'up', 'down', 'absent'",
    awk: ':5: interfaces[0].state: must be one of',
  },
  {
    name: 'bad MAC',
    yaml: 'interfaces:\n  - name: eth0\n    type: ethernet\n    mac-address: 52:54:00:zz:00:01\n',
    expect: "4:18: interfaces[0].mac-address: '52:54:00:zz:00:01' is not a MAC address",
    awk: ':4: interfaces[0].mac-address:',
  },
  {
    name: 'identifier mac-address without a MAC',
    yaml: 'interfaces:\n  - name: eth0\n    type: ethernet\n    identifier: mac-address\n',
    expect: "4:17: interfaces[0].identifier: 'mac-address' needs the interface's mac-address field",
    awk: ':4: interfaces[0].identifier:',
  },
  {
    name: 'MTU too small',
    yaml: eth('    mtu: 20\n'),
    expect: '5:10: interfaces[0].mtu: must be at least 68, not 20',
    awk: ':5: interfaces[0].mtu: must be at least 68',
  },
  {
    name: 'MTU not a number',
    yaml: eth('    mtu: jumbo\n'),
    expect: "5:10: interfaces[0].mtu: must be an integer, not the string 'jumbo'",
    awk: ':5: interfaces[0].mtu: must be an integer',
  },
  {
    name: 'bad IPv4 address',
    yaml: eth(
      '    ipv4:\n      enabled: true\n      address:\n        - ip: 10.0.0.300\n          prefix-length: 24\n',
    ),
    expect: "8:15: interfaces[0].ipv4.address[0].ip: '10.0.0.300' is not an IPv4 address",
    awk: ':8: interfaces[0].ipv4.address[0].ip:',
  },
  {
    name: 'prefix length out of range',
    yaml: eth(
      '    ipv4:\n      enabled: true\n      address:\n        - ip: 10.0.0.3\n          prefix-length: 33\n',
    ),
    expect: '9:26: interfaces[0].ipv4.address[0].prefix-length: must be at most 32, not 33',
    awk: ':9: interfaces[0].ipv4.address[0].prefix-length: must be at most 32',
  },
  {
    name: 'missing prefix length',
    yaml: eth('    ipv6:\n      enabled: true\n      address:\n        - ip: 2001:db8::1\n'),
    expect: '8:11: interfaces[0].ipv6.address[0].prefix-length: is required',
    awk: ':8: interfaces[0].ipv6.address[0].prefix-length: is required',
  },
  {
    name: 'dhcp without enabled',
    yaml: eth('    ipv4:\n      dhcp: true\n'),
    expect: '6:7: interfaces[0].ipv4.enabled: ipv4 settings are given but enabled is not true',
    awk: ':5: interfaces[0].ipv4.enabled:',
  },
  {
    name: 'enabled is not a boolean',
    yaml: eth('    ipv4:\n      enabled: "yes"\n'),
    expect: "6:16: interfaces[0].ipv4.enabled: must be true or false, not the string 'yes'",
    awk: ':6: interfaces[0].ipv4.enabled: must be true or false',
  },
  {
    name: 'autoconf on IPv4',
    yaml: eth('    ipv4:\n      enabled: true\n      dhcp: true\n      autoconf: true\n'),
    expect: "8:7: interfaces[0].ipv4.autoconf: unknown field 'autoconf'",
    awk: ':8: interfaces[0].ipv4.autoconf: unknown field',
  },
  {
    name: 'auto-dns without DHCP',
    yaml: eth(
      '    ipv4:\n      enabled: true\n      auto-dns: false\n      address:\n        - ip: 10.0.0.2\n          prefix-length: 24\n',
    ),
    expect: '7:17: interfaces[0].ipv4.auto-dns: only applies with dhcp',
    awk: ':7: interfaces[0].ipv4.auto-dns: only applies with dhcp',
  },
  {
    name: 'bond without mode',
    yaml: 'interfaces:\n  - name: bond0\n    type: bond\n    link-aggregation:\n      port: [eth0]\n',
    expect: '5:7: interfaces[0].link-aggregation.mode: is required',
    awk: ':4: interfaces[0].link-aggregation.mode: is required',
  },
  {
    name: 'bad bond mode',
    yaml: 'interfaces:\n  - name: bond0\n    type: bond\n    link-aggregation:\n      mode: round-robin\n',
    expect: "5:13: interfaces[0].link-aggregation.mode: must be one of 'balance-rr'",
    awk: ':5: interfaces[0].link-aggregation.mode: must be one of',
  },
  {
    name: 'unknown bond option',
    yaml: 'interfaces:\n  - name: bond0\n    type: bond\n    link-aggregation:\n      mode: balance-rr\n      options:\n        miimom: 100\n',
    expect:
      "7:9: interfaces[0].link-aggregation.options.miimom: unknown field 'miimom' (did you mean 'miimon'?)",
    awk: ':7: interfaces[0].link-aggregation.options.miimom: unknown field',
  },
  {
    name: 'link-aggregation on ethernet',
    yaml: eth('    link-aggregation:\n      mode: balance-rr\n'),
    expect: '6:7: interfaces[0].link-aggregation: is only valid for interfaces of type bond, not ethernet',
    awk: ':5: interfaces[0].link-aggregation: is only valid',
  },
  {
    name: 'vlan id out of range',
    yaml: `${eth()}  - name: eth0.5000\n    type: vlan\n    vlan:\n      base-iface: eth0\n      id: 5000\n`,
    expect: '9:11: interfaces[1].vlan.id: must be at most 4094, not 5000',
    awk: ':9: interfaces[1].vlan.id: must be at most 4094',
  },
  {
    name: 'vlan on an undefined interface',
    yaml: 'interfaces:\n  - name: eth9.10\n    type: vlan\n    vlan:\n      base-iface: eth9\n      id: 10\n',
    expect: "5:19: interfaces[0].vlan.base-iface: base interface 'eth9' is not defined in this file",
    awk: ':5: interfaces[0].vlan.base-iface: base interface',
  },
  {
    name: 'duplicate interface',
    yaml: `${eth()}  - name: eth0\n    type: ethernet\n`,
    expect: "5:11: interfaces[1].name: interface 'eth0' is already defined at line 2",
    awk: ':5: interfaces[1].name: interface',
  },
  {
    name: 'port with its own IP',
    yaml: `${eth('    ipv4:\n      enabled: true\n      dhcp: true\n')}  - name: br0\n    type: linux-bridge\n    bridge:\n      port:\n        - name: eth0\n`,
    expect: "12:9: interfaces[1].bridge.port: port 'eth0' has ipv4/ipv6 enabled",
    awk: ':8: interfaces[1]: port',
  },
  {
    name: 'interface in two controllers',
    yaml: `${eth()}  - name: br0\n    type: linux-bridge\n    bridge:\n      port:\n        - name: eth0\n  - name: bond0\n    type: bond\n    link-aggregation:\n      mode: balance-rr\n      port: [eth0]\n`,
    expect: "13:7: interfaces[2].link-aggregation: 'eth0' is already a port of 'br0'",
    awk: ":10: interfaces[2]: 'eth0' is already a port of 'br0'",
  },
  {
    name: 'route to an undefined interface',
    yaml: `${eth('    ipv4:\n      enabled: true\n      dhcp: true\n')}routes:\n  config:\n    - destination: 0.0.0.0/0\n      next-hop-interface: eth7\n`,
    expect: "11:27: routes.config[0].next-hop-interface: interface 'eth7' is not defined in this file",
    awk: ':11: routes.config[0].next-hop-interface:',
  },
  {
    name: 'route destination not CIDR',
    yaml: `${eth('    ipv4:\n      enabled: true\n      dhcp: true\n')}routes:\n  config:\n    - destination: 10.0.0.0\n      next-hop-interface: eth0\n`,
    expect: "10:20: routes.config[0].destination: '10.0.0.0' is not an IPv4 or IPv6 network in CIDR form",
    awk: ':10: routes.config[0].destination:',
  },
  {
    name: 'IPv6 route via an IPv4-only interface',
    yaml: `${eth('    ipv4:\n      enabled: true\n      dhcp: true\n')}routes:\n  config:\n    - destination: ::/0\n      next-hop-address: 2001:db8::1\n      next-hop-interface: eth0\n`,
    expect: "12:27: routes.config[0].next-hop-interface: interface 'eth0' does not have ipv6 enabled",
    awk: ':12: routes.config[0].next-hop-interface:',
  },
  {
    name: 'route gateway of the other family',
    yaml: `${eth('    ipv4:\n      enabled: true\n      dhcp: true\n')}routes:\n  config:\n    - destination: 0.0.0.0/0\n      next-hop-address: 2001:db8::1\n      next-hop-interface: eth0\n`,
    expect:
      "11:25: routes.config[0].next-hop-address: '2001:db8::1' is not an IPv4 address like the destination",
    awk: ':11: routes.config[0].next-hop-address:',
  },
  {
    name: 'DNS server not an address',
    yaml: `${eth('    ipv4:\n      enabled: true\n      dhcp: true\n')}dns-resolver:\n  config:\n    server:\n      - dns.example\n`,
    expect: "11:9: dns-resolver.config.server[0]: 'dns.example' is not an IP address",
    awk: ':11: dns-resolver.config.server[0]:',
  },
  {
    name: 'DNS with no interface to hold it',
    yaml: `${eth()}dns-resolver:\n  config:\n    server:\n      - 10.0.0.53\n`,
    expect: '7:5: dns-resolver.config: no interface has ipv4 enabled to carry the IPv4 DNS settings',
    awk: ':6: dns-resolver.config: no interface has ipv4 enabled',
  },
  {
    name: 'loopback without IPv6',
    yaml: 'interfaces:\n  - name: lo\n    type: loopback\n    ipv4:\n      enabled: true\n',
    expect: '2:5: interfaces[0].ipv6: a loopback interface needs enabled: true',
    awk: ':2: interfaces[0].ipv6: a loopback interface needs',
  },
  {
    name: 'ovs-interface outside any bridge',
    yaml: 'interfaces:\n  - name: ovs0\n    type: ovs-interface\n',
    expect: "2:11: interfaces[0].name: ovs-interface 'ovs0' is not a port of any ovs-bridge",
    awk: ':2: interfaces[0].name: ovs-interface',
  },
  {
    name: 'interface name too long',
    yaml: 'interfaces:\n  - name: averyveryverylongname0\n    type: dummy\n',
    expect: "2:11: interfaces[0].name: 'averyveryverylongname0' is not a valid interface name",
    awk: ':2: interfaces[0].name:',
  },
  // Names become file names (`<host>/<id>.nmconnection`): traversal is refused by both generators.
  {
    name: 'bond port that climbs out of the output folder',
    yaml: 'interfaces:\n  - name: bond0\n    type: bond\n    link-aggregation:\n      mode: active-backup\n      port:\n        - ../../../../tmp/x\n',
    expect: "7:11: interfaces[0].link-aggregation.port[0]: '../../../../tmp/x' is not a valid port name",
    awk: ':7: interfaces[0].link-aggregation.port[0]:',
  },
  {
    name: 'bridge port named ..',
    yaml: 'interfaces:\n  - name: br0\n    type: linux-bridge\n    bridge:\n      port:\n        - name: ..\n',
    expect: "6:17: interfaces[0].bridge.port[0].name: '..' is not a valid port name",
    awk: ':6: interfaces[0].bridge.port[0]:',
  },
  {
    name: 'interface named ..',
    yaml: 'interfaces:\n  - name: ..\n    type: dummy\n',
    expect: "2:11: interfaces[0].name: '..' is not a valid interface name",
    awk: ':2: interfaces[0].name:',
  },
  {
    name: 'vlan base interface with a slash',
    yaml: 'interfaces:\n  - name: v10\n    type: vlan\n    vlan:\n      base-iface: a/b\n      id: 10\n',
    expect: "5:19: interfaces[0].vlan.base-iface: 'a/b' is not a valid interface name",
    awk: ':5: interfaces[0].vlan.base-iface:',
  },
];
