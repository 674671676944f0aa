import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadDefinition } from '../../src/build/load-definition.ts';
import { nodeAddresses } from '../../src/cluster/addresses.ts';
import { clusterFromDefinition } from '../../src/cluster/from-definition.ts';
import { formatJoinPlan, planJoin } from '../../src/cluster/join-plan.ts';
import { YamlSource } from '../../src/common/yaml-cursor.ts';
import { parseDefinition } from '../../src/definition/parse.ts';
import type { Kubernetes } from '../../src/definition/types.ts';
import { installerNetwork } from '../../src/installer/installer-network.ts';
import { siteHostNetworkData } from '../../src/lab/index.ts';
import { parseHostFile } from '../../src/network/parse.ts';
import { parseInventory } from '../../src/service/inventory.ts';
import { writeSiteConfigDir } from '../../src/trial/cluster-site.ts';
import {
  CLUSTER_SITE_NODES,
  clusterSiteDefinition,
  clusterSiteInventory,
} from '../../src/trial/cluster-site-plan.ts';
import { copyExampleConfigDir } from '../e2e/support/example-image.ts';

/*
 * The 3-server site's definition and inventory, read back by the parsers the builder, the service and the
 * installer use: what the trial generates must mean to them what the trial intends.
 */

const repoRoot = path.resolve(import.meta.dirname, '../..');
const example = parse(readFileSync(path.join(repoRoot, 'example.yaml'), 'utf8'));
const VIP = '10.231.7.100';
const network = {
  prefixLength: 24,
  serverAddress: (n: number) => `10.231.7.${10 + n}`,
};
const labHosts = [1, 2, 3].map((n) => ({
  name: `host-${n}`,
  bmcAddress: `redfish-virtualmedia+http://127.0.0.1:${40_000 + n}/redfish/v1/Systems/${n}`,
  username: 'admin',
  password: `secret-${n}`,
  bootMac: `52:54:00:6c:00:0${n}`,
  siteMac: `52:54:00:6d:00:0${n}`,
}));

describe('the site definition', () => {
  it('adds a kubernetes section the definition parser accepts, and cluster up reads the same cluster from it', () => {
    const definition = clusterSiteDefinition(example, {
      version: 'v1.32.4+rke2r1',
      apiVIP: VIP,
      nodes: CLUSTER_SITE_NODES,
    });
    const source = new YamlSource('site.yaml', stringify(definition), {}, 'Definition');
    const parsed = parseDefinition(source);
    expect(source.diagnostics).toEqual([]);
    expect(parsed.kubernetes?.nodes).toEqual([
      { hostname: 'host-1', type: 'server', initializer: true },
      { hostname: 'host-2', type: 'server', initializer: false },
      { hostname: 'host-3', type: 'agent', initializer: false },
    ]);
    expect(clusterFromDefinition(parsed.kubernetes as Kubernetes, 'site')).toEqual({
      name: 'site',
      version: 'v1.32.4+rke2r1',
      apiVIPs: [VIP],
      initializer: 'host-1',
    });
    // The rest of the user's definition is untouched.
    expect(definition.operatingSystem).toEqual(example.operatingSystem);
    expect(definition.image).toEqual(example.image);
  });

  it("keeps the user's charts and apiHost, drops an apiVIP6 that has no place on the IPv4 site network", () => {
    const user = {
      ...example,
      kubernetes: {
        version: 'v1.31.1+rke2r1',
        network: { apiVIP: '192.168.1.5', apiVIP6: 'fd00::5', apiHost: 'api.edge.example' },
        helm: { charts: [{ name: 'app', version: '1.0.0', repositoryName: 'r' }] },
      },
    };
    const k = clusterSiteDefinition(user, {
      version: 'v1.32.4+rke2r1',
      apiVIP: VIP,
      nodes: CLUSTER_SITE_NODES,
    }).kubernetes;
    expect(k.version).toBe('v1.32.4+rke2r1');
    expect(k.network).toEqual({ apiVIP: VIP, apiHost: 'api.edge.example' });
    expect(k.helm).toEqual(user.kubernetes.helm);
    expect(user.kubernetes.network.apiVIP6).toBe('fd00::5');
  });
});

describe('the site inventory', () => {
  const inventory = clusterSiteInventory(labHosts, network);

  it('imports through the service parser with roles and network data', () => {
    const result = parseInventory([{ file: 'site.yaml', text: stringify(inventory) }]);
    expect(result.diagnostics).toEqual([]);
    expect(result.hosts.map((h) => [h.spec.name, h.spec.role, h.spec.bootMACAddress])).toEqual([
      ['host-1', 'server', '52:54:00:6c:00:01'],
      ['host-2', 'server', '52:54:00:6c:00:02'],
      ['host-3', 'agent', '52:54:00:6c:00:03'],
    ]);
  });

  it('gives each node its site address as node-ip and joins them through the VIP', () => {
    const members = inventory.hosts.map((h, i) => ({
      host: h.name as string,
      role: CLUSTER_SITE_NODES[i]!.role,
      initializer: CLUSTER_SITE_NODES[i]!.initializer,
      addresses: nodeAddresses(h.networkData as string),
    }));
    expect(members.map((m) => m.addresses)).toEqual([['10.231.7.10'], ['10.231.7.11'], ['10.231.7.12']]);
    const spec = { name: 'site', version: 'v1.32.4+rke2r1', apiVIPs: [VIP] };
    const plan = planJoin(spec, members);
    if (!plan.ok) throw new Error(plan.problems.join('; '));
    expect(formatJoinPlan(spec, plan.plan)).toBe(
      [
        'cluster site (RKE2 v1.32.4+rke2r1)',
        `joining nodes register at https://${VIP}:9345`,
        'wave 1 (at once):',
        '  host-1 (server, initializer) node-ip 10.231.7.10',
        'wave 2 (once host-1 is provisioned):',
        '  host-2 (server) node-ip 10.231.7.11',
        '  host-3 (agent) node-ip 10.231.7.12',
      ].join('\n'),
    );
  });

  it('network data: valid nmstate; the installer takes the boot NIC, static on the user network with the service as gateway', () => {
    const data = siteHostNetworkData('52:54:00:6c:00:02', '52:54:00:6d:00:02', {
      siteAddress: '10.231.7.11',
      prefixLength: 24,
      guestAddress: '10.0.2.52',
    });
    const { state, diagnostics } = parseHostFile('networkData', data);
    expect(diagnostics).toEqual([]);
    expect(state?.interfaces.map((i) => [i.macAddress, i.identifier, i.ipv4.addresses])).toEqual([
      ['52:54:00:6D:00:02', 'mac-address', [{ ip: '10.231.7.11', prefixLength: 24 }]],
      ['52:54:00:6C:00:02', 'mac-address', [{ ip: '10.0.2.52', prefixLength: 24 }]],
    ]);
    // No route leaves through the site NIC: the service and the default route are on the first NIC.
    expect(state?.routes.map((r) => [r.destination, r.nextHopAddress, r.nextHopInterface])).toEqual([
      ['0.0.0.0/0', '10.0.2.2', 'uplink0'],
    ]);
    expect(installerNetwork(data, '52:54:00:6c:00:02')).toEqual({
      mode: 'static',
      mac: '52:54:00:6c:00:02',
      address: '10.0.2.52/24',
      gateway: '10.0.2.2',
      dns: ['10.0.2.3'],
    });
  });

  it('refuses a lab without the site NIC or without a host the site needs', () => {
    const { siteMac: _none, ...noSite } = labHosts[1]!;
    expect(() => clusterSiteInventory([labHosts[0]!, noSite, labHosts[2]!], network)).toThrow(
      'host-2 has no NIC on the site network',
    );
    expect(() => clusterSiteInventory(labHosts.slice(0, 2), network)).toThrow('the lab has no host host-3');
  });
});

describe('the site config dir', () => {
  it("holds the user's inputs, the site definition, the RKE2 stand-in, the VIP charts and a guest kubectl, and validates", async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'outpost-site-config-'));
    try {
      const source = path.join(work, 'source');
      await mkdir(source);
      await copyExampleConfigDir(source);
      const dir = path.join(work, 'config');
      const kubectl = path.join(work, 'kubectl');
      await writeFile(kubectl, '#!/bin/sh\n', { mode: 0o755 });
      const file = await writeSiteConfigDir(
        {
          configDir: source,
          definitionFile: 'example.yaml',
          workDir: work,
          timeoutMs: 1,
          log: () => {},
          guestKubectl: kubectl,
        },
        dir,
        { version: 'v1.32.4+rke2r1', apiVIP: VIP, nodes: CLUSTER_SITE_NODES },
      );
      expect(file).toBe('example.yaml');
      const result = await loadDefinition({ configDir: dir, definitionFile: file, env: {} });
      expect(result.diagnostics).toEqual([]);
      expect(result.loaded?.definition.kubernetes?.network?.apiVIP).toBe(VIP);
      expect((await readdir(path.join(dir, 'kubernetes/helm/charts'))).sort()).toEqual([
        'endpoint-copier-operator-0.2.1.tgz',
        'metallb-0.1.0+up0.14.9.tgz',
      ]);
      expect(await readdir(path.join(dir, 'kubernetes/install'))).toContain('rke2.linux-amd64.tar.gz');
      expect((await stat(path.join(dir, 'os-files/usr/local/bin/kubectl'))).mode & 0o777).toBe(0o755);
      // The other site's host files stay out: the inventory's network data is what names and addresses hosts.
      expect(await readdir(dir)).not.toContain('network');
      await expect(
        writeSiteConfigDir(
          {
            configDir: source,
            definitionFile: '../outside.yaml',
            workDir: work,
            timeoutMs: 1,
            log: () => {},
          },
          path.join(work, 'other'),
          { version: 'v1.32.4+rke2r1', apiVIP: VIP, nodes: CLUSTER_SITE_NODES },
        ),
      ).rejects.toThrow('must be inside the config dir');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
