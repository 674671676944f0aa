import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GOLDEN, generateFromFiles, VALID_DIR } from './support/fixtures.ts';
import { runNetworkManager } from './support/nm-netns.ts';

/**
 * Generated profiles activated by the real NetworkManager on veths with the right MACs, in a network
 * namespace. (The example's static + DHCP profiles and the Metal3 drive profile are activated in
 * apply.test.ts, after the first-boot step installed them.) Bonds, VLANs, dummies and OVS cannot be
 * created on this kernel: generate.test.ts checks those offline.
 */
function profiles(host: string, file: string, only?: string[]): Record<string, string> {
  const generated = generateFromFiles([{ host, file }]);
  expect(generated.diagnostics).toEqual([]);
  return Object.fromEntries(
    generated.files
      .filter((f) => f.path.startsWith(`${host}/`))
      .map((f) => [path.basename(f.path), f.content] as const)
      .filter(([name]) => !only || only.includes(name)),
  );
}

describe('NetworkManager activates the generated profiles', () => {
  it('linux bridge with a port: dual-stack static, routes in main and table 100, DNS and search', async () => {
    const r = await runNetworkManager({
      links: [{ ifname: 'eth0', mac: '52:54:00:bb:00:01', peerAddress: '10.30.0.1/24' }],
      keyfiles: profiles('bridge-host', path.join(VALID_DIR, 'bridge.yaml')),
      expect: [
        { ifname: 'br0', address: /10\.30\.0\.5\/24/ },
        { ifname: 'br0', address: /2001:db8:30::5\/64/ },
      ],
      extraCommands: [['ip', '-o', 'link', 'show', 'eth0']],
    });
    expect(r.activated, `${r.missing.join(', ')}\n${r.addresses}\n${r.warnings.join('\n')}`).toBe(true);
    expect(r.extra[0]).toMatch(/master br0/);
    expect(r.routes4).toMatch(/default via 10\.30\.0\.1 dev br0 proto static metric 100/);
    expect(r.routes4).toMatch(/10\.99\.0\.0\/16 via 10\.30\.0\.254 dev br0 table 100/);
    expect(r.routes6).toMatch(/default via 2001:db8:30::1 dev br0/);
    expect(r.resolvConf).toMatch(/nameserver 10\.30\.0\.1/);
    expect(r.resolvConf).toMatch(/nameserver 2001:db8:30::53/);
    expect(r.resolvConf).toMatch(/search bridge\.example example\.org/);
    expect(r.activeConnections).toMatch(/^br0:br0:activated$/m);
    expect(r.activeConnections).toMatch(/^eth0:eth0:activated$/m);
  }, 60_000);

  it('identified by MAC (any interface name), MTU 9000, route with metric', async () => {
    const r = await runNetworkManager({
      links: [{ ifname: 'whatever7', mac: '52:54:00:dd:00:01', peerAddress: '10.40.0.1/24' }],
      keyfiles: profiles('mac-mtu', path.join(VALID_DIR, 'mac-mtu.yaml')),
      expect: [{ ifname: 'whatever7', address: /10\.40\.0\.7\/24/ }],
      extraCommands: [['ip', '-o', 'link', 'show', 'whatever7']],
    });
    expect(r.activated, `${r.missing.join(', ')}\n${r.addresses}\n${r.warnings.join('\n')}`).toBe(true);
    expect(r.extra[0]).toMatch(/mtu 9000/);
    expect(r.routes4).toMatch(/10\.41\.0\.0\/16 via 10\.40\.0\.1 dev whatever7 proto static metric 20/);
    expect(r.activeConnections).toMatch(/^data0:whatever7:activated$/m);
  }, 60_000);

  it('DHCP without gateway or routes, IPv6 link-local only, IPv6 DHCP+SLAAC, loopback', async () => {
    const r = await runNetworkManager({
      links: [
        { ifname: 'eth0', mac: '52:54:00:cc:00:01' },
        {
          ifname: 'eth1',
          mac: '52:54:00:cc:00:02',
          peerAddress: '10.60.0.1/24',
          dhcp: {
            start: '10.60.0.20',
            end: '10.60.0.30',
            router: '10.60.0.1',
            dns: '10.60.0.1',
            domain: 'modes.example',
          },
        },
        { ifname: 'eth2', mac: '52:54:00:cc:00:03' },
      ],
      keyfiles: profiles('ip-modes', path.join(VALID_DIR, 'ip-modes.yaml'), [
        'eth0.nmconnection',
        'eth1.nmconnection',
        'eth2.nmconnection',
        'lo.nmconnection',
      ]),
      expect: [
        { ifname: 'eth1', address: /10\.60\.0\.(2\d|30)\/24/ },
        { ifname: 'eth2', address: /fe80::/ },
        { ifname: 'eth0', address: /fe80::/ },
        { ifname: 'lo', address: /127\.0\.0\.1\/8/ },
      ],
    });
    expect(r.activated, `${r.missing.join(', ')}\n${r.addresses}\n${r.warnings.join('\n')}`).toBe(true);
    // auto-gateway: false -> never-default; auto-routes: false -> no DHCP routes.
    expect(r.routes4).not.toMatch(/default/);
    expect(r.addresses).not.toMatch(/^eth0\S*\s+\S+\s+.*\d+\.\d+\.\d+\.\d+/m);
  }, 60_000);

  it("nmstate's own example: MAC-identified static ethernet and a port-less bridge with a cloned MAC", async () => {
    const r = await runNetworkManager({
      links: [{ ifname: 'ens5', mac: '0e:4d:c6:b8:c4:72', peerAddress: '192.168.75.1/24' }],
      keyfiles: profiles('node1', path.join(GOLDEN, 'generate', 'node1.yaml'), [
        'eth0.nmconnection',
        'bridge0.nmconnection',
      ]),
      expect: [
        { ifname: 'ens5', address: /192\.168\.75\.4\/24/ },
        { ifname: 'bridge0', address: /10\.88\.0\.1\/16/ },
      ],
      extraCommands: [['ip', '-o', 'link', 'show', 'bridge0']],
    });
    expect(r.activated, `${r.missing.join(', ')}\n${r.addresses}\n${r.warnings.join('\n')}`).toBe(true);
    expect(r.extra[0]).toMatch(/link\/ether fe:c4:05:42:8b:aa/);
  }, 60_000);
});
