import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/common/diagnostics.ts';
import { parseInventory } from '../../src/service/inventory.ts';
import { type RunningService, startService } from '../../src/service/service.ts';
import { clientFor, tempDir } from '../service/helpers.ts';

// Findings: a second host with the same BMC address and boot MAC, imported in a separate file, was accepted
// (both records then drove the same BMC into provisioning); networkData was not checked as nmstate (YAML
// aliases and merge keys were silently turned into something else).
const tmp = tempDir('sec-inventory');
const stateDir = path.join(tmp.dir, 'state');
let service: RunningService;

beforeAll(async () => {
  mkdirSync(path.join(tmp.dir, 'media'));
  service = await startService({
    stateDir,
    mediaDir: path.join(tmp.dir, 'media'),
    host: '127.0.0.1',
    port: 0,
    log: () => {},
    // BMCs at a closed port: registration fails and retries, which is all this test needs.
    timing: { backoffBaseMs: 60_000 },
  });
});
afterAll(async () => {
  await service?.close();
  tmp.cleanup();
});

const host = (name: string, address: string, mac?: string) => ({
  name,
  bmc: { address, username: 'u', password: 'p' },
  ...(mac && { bootMACAddress: mac }),
});

async function importHosts(hosts: object[]): Promise<{ status: number; body: Record<string, unknown> }> {
  const api = clientFor(service.url, stateDir);
  try {
    return { status: 200, body: await api.request('POST', '/hosts', { hosts }) };
  } catch (error) {
    const e = error as { status?: number; message: string };
    return { status: e.status ?? 0, body: { error: e.message } };
  }
}

describe('inventory: one record per machine', { timeout: 60_000 }, () => {
  it('refuses, in a later import, a BMC address (normalised) or boot MAC another host already has', async () => {
    const first = await importHosts([
      host('node-1', 'redfish-virtualmedia+http://127.0.0.1:9/redfish/v1/Systems/1', '52:54:00:00:00:01'),
    ]);
    expect(first).toMatchObject({ status: 200, body: { created: ['node-1'] } });
    // The same machine written differently: another driver scheme, upper-case host, a trailing slash.
    const sameBmc = await importHosts([
      host(
        'node-2',
        'redfish+http://LOCALHOST.localdomain:9/redfish/v1/Systems/1/'.replace(
          'LOCALHOST.localdomain',
          '127.0.0.1',
        ),
        '52:54:00:00:00:02',
      ),
    ]);
    expect(sameBmc.status).toBe(409);
    expect(sameBmc.body.error).toMatch(
      /nothing imported: host 'node-2': BMC address 'redfish\+http:\/\/127\.0\.0\.1:9\/redfish\/v1\/Systems\/1\/' is already used by host 'node-1'/,
    );
    const sameMac = await importHosts([
      host('node-3', 'redfish-virtualmedia+http://127.0.0.1:9/redfish/v1/Systems/3', '52:54:00:00:00:01'),
    ]);
    expect(sameMac.status).toBe(409);
    expect(sameMac.body.error).toMatch(
      /host 'node-3': boot MAC address '52:54:00:00:00:01' is already used by host 'node-1'/,
    );
    // Default ports are the same port: https://h/ and https://h:443/ are one BMC.
    await importHosts([host('node-4', 'redfish-virtualmedia+https://10.9.9.9/redfish/v1/Systems/1')]);
    const defaultPort = await importHosts([
      host('node-5', 'idrac-virtualmedia://10.9.9.9:443/redfish/v1/Systems/1'),
    ]);
    expect(defaultPort.status).toBe(409);
    // Nothing of a refused import was written; re-importing a host as itself is an update, not a conflict.
    const again = await importHosts([
      host('node-1', 'redfish-virtualmedia+http://127.0.0.1:9/redfish/v1/Systems/1', '52:54:00:00:00:01'),
      host('node-6', 'redfish-virtualmedia+http://127.0.0.1:9/redfish/v1/Systems/6', '52:54:00:00:00:06'),
    ]);
    expect(again).toMatchObject({ status: 200, body: { created: ['node-6'], unchanged: ['node-1'] } });
    const names = (
      await clientFor(service.url, stateDir).request<{ hosts: { name: string }[] }>('GET', '/hosts')
    ).hosts.map((h) => h.name);
    expect(names).toEqual(['node-1', 'node-4', 'node-6']);
  });

  it('refuses duplicates within one file too, with positions, comparing normalised BMC addresses', () => {
    const r = parseInventory([
      {
        file: 'inv.yaml',
        text: `hosts:
  - name: a
    bmc: { address: "redfish+https://10.0.0.1/redfish/v1/Systems/1", username: u, password: p }
  - name: b
    bmc: { address: "idrac-virtualmedia://10.0.0.1:443/redfish/v1/Systems/1", username: u, password: p }
`,
      },
    ]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      "inv.yaml:5:21: hosts[1].bmc.address: duplicate BMC address 'idrac-virtualmedia://10.0.0.1:443/redfish/v1/Systems/1' (also used by host 'a')",
    ]);
  });
});

describe('inventory: networkData is nmstate, checked by the network parser', () => {
  const bmc = (i: number) =>
    `    bmc: { address: "redfish+http://10.0.0.${i}/redfish/v1/Systems/1", username: u, password: p }\n`;
  const files: Record<string, string> = {
    'net/d.yaml': 'interfaces:\n  - name: eth0\n    type: ethernet\n    state: up\n    mtu: lots\n',
  };
  const parse = (text: string) =>
    parseInventory([{ file: 'inv.yaml', text, readFile: (f) => files[f] ?? '' }]);

  it('reports nmstate problems at their line and column in the inventory (inline, block string, file)', () => {
    const r = parse(`hosts:
  - name: a
${bmc(1)}    networkData:
      interfaces:
        - name: eth0
          type: wifi
          state: up
  - name: b
${bmc(2)}    networkData: |
      interfaces:
        - name: eth0
          type: ethernet
          state: sideways
  - name: d
${bmc(4)}    networkDataFile: net/d.yaml
`);
    expect(r.hosts).toEqual([]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(
        /^inv\.yaml:7:17: hosts\[0\]\.networkData\.interfaces\[0\]\.type: must be one of .*not 'wifi'$/,
      ),
      expect.stringMatching(
        /^inv\.yaml:15:18: hosts\[1\]\.networkData\.interfaces\[0\]\.state: must be one of .*not 'sideways'$/,
      ),
      expect.stringMatching(/^net\/d\.yaml:5:10: interfaces\[0\]\.mtu: must be an integer/),
    ]);
  });

  it('checks a Metal3 network-data Secret the same way, at its position in the manifest', () => {
    const r = parseInventory([
      {
        file: 'bmh.yaml',
        text: `apiVersion: v1
kind: Secret
metadata: { name: creds }
stringData: { username: root, password: calvin }
---
apiVersion: v1
kind: Secret
metadata: { name: net }
stringData:
  networkData: |
    interfaces:
      - name: eth0
        type: wifi
---
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: { name: w1 }
spec:
  bmc: { address: "redfish://10.1.1.1/redfish/v1/Systems/1", credentialsName: creds }
  preprovisioningNetworkDataName: net
`,
      },
    ]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(
        /^bmh\.yaml:13:15: stringData\.networkData\.interfaces\[0\]\.type: must be one of .*not 'wifi'$/,
      ),
    ]);
  });

  it('refuses a YAML merge key (not nmstate) instead of silently turning it into something else', () => {
    const r = parse(`hosts:
  - name: c
${bmc(3)}    networkData:
      interfaces:
        - &eth { name: eth0, type: ethernet, state: up }
        - name: eth1
          <<: *eth
`);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^inv\.yaml:8:11: hosts\[0\]\.networkData\.interfaces\[1\]\.<<: unknown field '<<'/,
        ),
      ]),
    );
  });

  it('keeps valid nmstate as it was written, anchors and comments included', () => {
    const r = parse(`hosts:
  - name: e
${bmc(5)}    networkData:
      interfaces:
        # uplink
        - &uplink { name: eth0, type: ethernet, state: up, ipv4: { enabled: true, dhcp: true } }
      dns-resolver:
        config: { server: [10.0.0.53] }
`);
    expect(r.diagnostics).toEqual([]);
    expect(r.hosts[0]!.spec.networkData).toBe(
      'interfaces:\n  # uplink\n  - &uplink { name: eth0, type: ethernet, state: up, ipv4: { enabled: true, dhcp: true } }\ndns-resolver:\n  config: { server: [10.0.0.53] }\n',
    );
  });
});
