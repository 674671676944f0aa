import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import {
  candidateSubnets,
  createSiteNetwork,
  formatIpv4,
  linkSiteId,
  parseIpv4Prefix,
  parseNamespaceName,
  parseSiteSubnet,
  prefixesOverlap,
  type SiteNetwork,
  siteAddresses,
  siteHostNetworkData,
  siteNames,
} from '../../src/lab/site-network.ts';
import { parseHostFile } from '../../src/network/parse.ts';

const MODULE = path.join(import.meta.dirname, '../../src/lab/site-network.ts');

describe('site network: addresses and names', () => {
  it('derives gateway, servers and VIP of a /24', () => {
    const a = siteAddresses(parseSiteSubnet('10.231.7.0/24'));
    expect([a.gateway, a.server(0), a.server(1), a.server(89), a.vip]).toEqual([
      '10.231.7.1',
      '10.231.7.10',
      '10.231.7.11',
      '10.231.7.99',
      '10.231.7.100',
    ]);
    expect(() => a.server(90)).toThrow(/outside 0..89/);
    expect(() => a.server(-1)).toThrow(/outside/);
  });

  it('accepts only a /24 network address', () => {
    for (const bad of [
      '10.231.7.5/24',
      '10.231.7.0/23',
      '10.231.7.0',
      '10.231.256.0/24',
      '10.231.07.0/24',
      'x',
    ])
      expect(() => parseSiteSubnet(bad), bad).toThrow(/IPv4 \/24/);
  });

  it('tells overlapping prefixes apart', () => {
    const p = (t: string) => parseIpv4Prefix(t)!;
    expect(prefixesOverlap(p('10.231.7.0/24'), p('10.0.0.0/8'))).toBe(true);
    expect(prefixesOverlap(p('10.231.7.0/24'), p('10.231.7.255'))).toBe(true);
    expect(prefixesOverlap(p('10.231.7.0/24'), p('10.231.8.0/24'))).toBe(false);
    expect(prefixesOverlap(p('10.231.7.0/24'), p('10.231.6.255/32'))).toBe(false);
    expect(formatIpv4(p('192.168.1.77/16').base)).toBe('192.168.0.0');
  });

  it('offers every 10.231.X.0/24 once, from a given start', () => {
    const all = candidateSubnets(250).map((s) => formatIpv4(s.base));
    expect(all).toHaveLength(256);
    expect(new Set(all).size).toBe(256);
    expect(all.slice(0, 7)).toEqual([
      '10.231.250.0',
      '10.231.251.0',
      '10.231.252.0',
      '10.231.253.0',
      '10.231.254.0',
      '10.231.255.0',
      '10.231.0.0',
    ]);
  });

  it('names fit IFNAMSIZ and carry id and owner', () => {
    const n = siteNames('zzzzzz', { pid: 4_194_304, startTicks: '123456789' });
    expect(n.namespace).toBe('outpost-site-zzzzzz-4194304-123456789');
    expect(parseNamespaceName(n.namespace)).toEqual({
      id: 'zzzzzz',
      pid: 4_194_304,
      startTicks: '123456789',
    });
    expect(n.gatewayLink.length).toBeLessThanOrEqual(15);
    expect(n.tap(36 ** 5 - 1).length).toBeLessThanOrEqual(15);
    expect(linkSiteId(n.tap(7))).toBe('zzzzzz');
    expect(linkSiteId(n.gatewayLink)).toBe('zzzzzz');
    expect(linkSiteId('eth0')).toBeUndefined();
    expect(parseNamespaceName('outpost-site-abc')).toBeUndefined();
    expect(() => siteNames('Bad-id', { pid: 1, startTicks: '1' })).toThrow(/1-6 characters/);
  });
});

async function namespaces(): Promise<string[]> {
  return (await execa('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}
async function links(): Promise<string[]> {
  return (JSON.parse((await execa('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string }[]).map(
    (l) => l.ifname,
  );
}
/** One echo request, answered within 5 s (from the root namespace unless one is named). */
const ping = (address: string, namespace?: string) => {
  const command = ['ping', '-c', '1', '-W', '5', address];
  return namespace
    ? execa('ip', ['netns', 'exec', namespace, ...command], { reject: false })
    : execa(command[0]!, command.slice(1), { reject: false });
};

describe('site network in namespaces (host, root)', () => {
  const suffix = randomBytes(3).toString('hex');
  const nodes = [`outpost-test-sn-${suffix}-a`, `outpost-test-sn-${suffix}-b`];
  let site: SiteNetwork | undefined;

  afterAll(async () => {
    await site?.close();
    for (const n of nodes) await execa('ip', ['netns', 'delete', n], { reject: false });
  });

  it('bridges nodes and the root namespace, then leaves nothing behind', async () => {
    site = await createSiteNetwork();
    expect(site.namespace).toMatch(/^outpost-site-/);
    expect(site.subnet).toMatch(/^10\.231\.\d+\.0\/24$/);
    // Two namespaces stand in for nodes: a veth each, its root end moved onto the bridge by attach().
    for (const [i, node] of nodes.entries()) {
      const rootEnd = `snt${suffix}${i}`;
      await execa('ip', ['netns', 'add', node]);
      await execa('ip', ['link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', node]);
      await execa('ip', ['-n', node, 'addr', 'add', `${site.serverAddress(i)}/24`, 'dev', 'eth1']);
      await execa('ip', ['-n', node, 'link', 'set', 'eth1', 'up']);
      await site.attach(rootEnd);
    }
    const nodeToNode = await ping(site.serverAddress(1), nodes[0]);
    expect(nodeToNode.exitCode, nodeToNode.stdout + nodeToNode.stderr).toBe(0);
    for (const i of [0, 1]) {
      const fromRoot = await ping(site.serverAddress(i));
      expect(fromRoot.exitCode, fromRoot.stdout + fromRoot.stderr).toBe(0);
    }
    // The nodes see the management side at the gateway address.
    const toGateway = await ping(site.gateway, nodes[1]);
    expect(toGateway.exitCode, toGateway.stdout + toGateway.stderr).toBe(0);

    const pending = await site.createTap();
    const attached = await site.createTap();
    await site.attach(attached);
    expect(await links()).toContain(pending);

    // A subnet this machine routes already is refused, naming the route.
    await expect(createSiteNetwork({ subnet: site.subnet })).rejects.toThrow(
      /already routed on this machine/,
    );

    const { namespace } = site;
    await site.close();
    await site.close();
    expect(await namespaces()).not.toContain(namespace);
    const left = (await links()).filter((l) => l.startsWith(`os-`) && linkSiteId(l) === linkSiteId(pending));
    expect(left).toEqual([]);
    const routes = (await execa('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout;
    expect(routes).not.toContain(site.subnet);
  }, 60_000);

  it('reclaims what a killed lab left (namespace, veth, taps)', async () => {
    const id = `k${randomBytes(2).toString('hex')}`;
    const script = `
      import { createSiteNetwork } from ${JSON.stringify(MODULE)};
      const n = await createSiteNetwork({ id: ${JSON.stringify(id)} });
      const pending = await n.createTap();
      await n.attach(await n.createTap());
      console.log(JSON.stringify({ namespace: n.namespace, pending, subnet: n.subnet }));
      setInterval(() => {}, 1000);`;
    const child = execa('node', ['--input-type=module', '-e', script], { reject: false });
    const first = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the owner printed nothing within 20 s')), 20_000);
      child.stdout?.once('data', (chunk: Buffer) => {
        clearTimeout(timer);
        resolve(chunk.toString());
      });
    });
    const owned = JSON.parse(first) as { namespace: string; pending: string; subnet: string };
    child.kill('SIGKILL');
    await child;
    expect(await namespaces()).toContain(owned.namespace);
    expect(await links()).toContain(owned.pending);

    const next = await createSiteNetwork();
    try {
      expect(await namespaces()).not.toContain(owned.namespace);
      expect((await links()).filter((l) => linkSiteId(l) === id)).toEqual([]);
    } finally {
      await next.close();
    }
  }, 60_000);
});

describe('site network: host network data', () => {
  it('is nmstate the image accepts: the static site address first, the boot NIC static with the routes', () => {
    const text = siteHostNetworkData('52:54:00:6c:00:01', '52:54:00:6d:00:01', {
      siteAddress: '10.231.7.10',
      prefixLength: 24,
      guestAddress: '10.0.2.51',
    });
    const parsed = parseHostFile('host-1.yaml', text);
    expect(parsed.diagnostics).toEqual([]);
    expect(text).toContain('52:54:00:6d:00:01');
    expect(text).toContain('ip: 10.231.7.10');
    // The only route leaves through the boot NIC (the service is behind it), none through the site NIC.
    expect(parsed.state?.routes.map((r) => r.nextHopInterface)).toEqual(['uplink0']);
  });
});
