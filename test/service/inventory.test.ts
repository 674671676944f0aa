import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/common/diagnostics.ts';
import { loadInventoryFiles, parseInventory } from '../../src/service/inventory.ts';
import { tempDir } from './helpers.ts';

// Copies of the Metal3 quick start's manifests, as published.
const METAL3 = path.join(import.meta.dirname, 'fixtures/metal3-flow');
const tmp = tempDir('inventory');
afterAll(() => tmp.cleanup());

function parse(text: string, env: Record<string, string> = {}, files: Record<string, string> = {}) {
  return parseInventory(
    [
      {
        file: 'inv.yaml',
        text,
        readFile: (f) => {
          const content = files[f];
          if (content === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
          return content;
        },
      },
    ],
    { env },
  );
}

const problems = (r: ReturnType<typeof parse>) => r.diagnostics.map(formatDiagnostic);

describe('outpost inventory YAML', () => {
  it('reads every field, with environment references and password files', () => {
    const r = parse(
      `hosts:
  - name: edge-1
    bmc:
      address: redfish-virtualmedia+http://10.0.0.5:8000/redfish/v1/Systems/1
      username: admin
      password: \${BMC_PASS}
      disableCertificateVerification: true
    bootMACAddress: "52:54:00:AA:BB:01"
    role: server
    online: false
    labels: { rack: r1 }
    rootDeviceHints: { deviceName: /dev/vda, minSizeGigabytes: 20, rotational: false }
    networkData:
      interfaces:
        - { name: eth0, type: ethernet, state: up }
  - name: edge-2
    bmc:
      address: idrac-virtualmedia://10.0.0.6/redfish/v1/Systems/System.Embedded.1
      username: root
      passwordFile: secrets/edge-2
    role: agent
    networkDataFile: net/edge-2.yaml
`,
      { BMC_PASS: 's3cret-env' },
      { 'secrets/edge-2': 'file-secret\n', 'net/edge-2.yaml': 'interfaces: []\n' },
    );
    expect(problems(r)).toEqual([]);
    expect(r.hosts).toHaveLength(2);
    const [a, b] = r.hosts;
    expect(a!.spec).toMatchObject({
      name: 'edge-1',
      bmc: {
        address: 'redfish-virtualmedia+http://10.0.0.5:8000/redfish/v1/Systems/1',
        disableCertificateVerification: true,
      },
      bootMACAddress: '52:54:00:aa:bb:01',
      role: 'server',
      online: false,
      labels: { rack: 'r1' },
      rootDeviceHints: { deviceName: '/dev/vda', minSizeGigabytes: 20, rotational: false },
    });
    expect(a!.spec.networkData).toContain('eth0');
    expect(a!.credentials).toEqual({ username: 'admin', password: 's3cret-env' });
    expect(b!.credentials.password).toBe('file-secret');
    expect(b!.spec.role).toBe('agent');
    expect(b!.spec.networkData).toBe('interfaces: []\n');
    // Passwords are secrets: callers must not print them.
    expect(r.secrets.has('s3cret-env')).toBe(true);
    expect(r.secrets.has('file-secret')).toBe(true);
    // Credentials never reach the spec that goes to the database.
    expect(JSON.stringify(r.hosts.map((h) => h.spec))).not.toMatch(/s3cret|file-secret/);
  });

  it('reports every problem at once, with file, line, column and field', () => {
    const r = parse(`hosts:
  - name: Edge_1
    bmc:
      address: ipmi://10.0.0.5
      username: admin
      pasword: x
    bootMACAddress: 52-54-00
    role: master
  - name: edge-2
    bmc:
      address: redfish-virtualmedia://10.0.0.6/redfish/v1/Managers/1
      username: admin
      password: \${MISSING}
    rootDeviceHints: { size: 3 }
  - name: edge-3
    bmc: { address: "redfish+https://10.0.0.7", username: a, password: b, passwordFile: f }
    networkData: "interfaces: [unclosed"
`);
    const p = problems(r);
    expect(r.hosts).toEqual([]);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^inv\.yaml:2:11: hosts\[0\]\.name: 'Edge_1' is not a valid host name/),
        expect.stringMatching(
          /^inv\.yaml:4:16: hosts\[0\]\.bmc\.address: .*IPMI is not supported: outpost drives BMCs over Redfish only/,
        ),
        expect.stringMatching(
          /^inv\.yaml:6:7: hosts\[0\]\.bmc\.pasword: unknown field 'pasword' \(did you mean 'password'\?\)/,
        ),
        expect.stringMatching(/^inv\.yaml:7:21: hosts\[0\]\.bootMACAddress: '52-54-00' is not a MAC address/),
        expect.stringMatching(
          /^inv\.yaml:8:11: hosts\[0\]\.role: must be one of 'server', 'agent', not 'master'/,
        ),
        expect.stringMatching(
          /^inv\.yaml:11:16: hosts\[1\]\.bmc\.address: .*names a Manager; it must name a System/,
        ),
        expect.stringMatching(
          /^inv\.yaml:13:17: hosts\[1\]\.bmc\.password: environment variable MISSING is not set/,
        ),
        expect.stringMatching(/^inv\.yaml:14:24: hosts\[1\]\.rootDeviceHints\.size: unknown field 'size'/),
        expect.stringMatching(
          /hosts\[2\]\.bmc\.passwordFile: give either password or passwordFile, not both/,
        ),
        expect.stringMatching(
          /^inv\.yaml:17:18: hosts\[2\]\.networkData: network data \(networkData\) line 1: YAML syntax error/,
        ),
      ]),
    );
    expect(p.length).toBeGreaterThanOrEqual(10);
  });

  it('refuses bare IPMI hosts and duplicate names, MACs and BMC addresses', () => {
    const r = parse(`hosts:
  - name: a
    bmc: { address: 10.0.0.5, username: u, password: p }
  - name: b
    bmc: { address: "redfish://10.0.0.6", username: u, password: p }
    bootMACAddress: "52:54:00:00:00:01"
  - name: b
    bmc: { address: "redfish://10.0.0.6", username: u, password: p }
    bootMACAddress: "52:54:00:00:00:01"
`);
    const p = problems(r);
    expect(p).toContainEqual(
      expect.stringMatching(
        /^inv\.yaml:3:21: hosts\[0\]\.bmc\.address: .*a bare host means IPMI, which is not supported/,
      ),
    );
    expect(p).toContainEqual(
      expect.stringMatching(/^inv\.yaml:7:11: hosts\[2\]\.name: duplicate host name 'b'/),
    );
    expect(p).toContainEqual(
      expect.stringMatching(/^inv\.yaml:9:21: hosts\[2\]\.bootMACAddress: duplicate boot MAC address/),
    );
    expect(p).toContainEqual(
      expect.stringMatching(/^inv\.yaml:8:21: hosts\[2\]\.bmc\.address: duplicate BMC address/),
    );
  });

  it('accepts every Metal3 Redfish scheme with +http/+https', () => {
    const schemes = [
      'redfish',
      'redfish-virtualmedia',
      'idrac-virtualmedia',
      'ilo5-virtualmedia',
      'idrac-redfish',
      'ilo5-redfish',
    ];
    const text = `hosts:\n${schemes
      .flatMap((s, i) => ['', '+http', '+https'].map((suffix, j) => [s, suffix, i * 3 + j] as const))
      .map(
        ([s, suffix, n]) =>
          `  - { name: h${n}, bmc: { address: "${s}${suffix}://10.0.0.${n}/redfish/v1/Systems/1", username: u, password: p } }`,
      )
      .join('\n')}\n`;
    const r = parse(text);
    expect(problems(r)).toEqual([]);
    expect(r.hosts).toHaveLength(18);
  });
});

describe('Metal3 manifests', () => {
  it('reads the reference BareMetalHost with its credentials and network-data Secrets (two files)', () => {
    const r = loadInventoryFiles([`${METAL3}/baremetalhost.yaml`, `${METAL3}/networkdata-secret.yaml`]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.hosts).toHaveLength(1);
    const host = r.hosts[0]!;
    expect(host.spec).toMatchObject({
      name: 'controlplane-0',
      bootMACAddress: '00:f3:65:8a:a3:b0',
      online: true,
      role: 'server',
      labels: { 'cluster-role': 'control-plane' },
      bmc: {
        address:
          'redfish-virtualmedia://192.168.125.1:8000/redfish/v1/Systems/68bd0fb6-d124-4d17-a904-cdf33efe83ab',
        disableCertificateVerification: true,
      },
    });
    // base64 `data` decoded
    expect(host.credentials).toEqual({ username: 'admin', password: 'password' });
    expect(host.spec.networkData).toContain('192.168.125.200');
  });

  it('points at the BareMetalHost field when a referenced Secret is missing', () => {
    const r = loadInventoryFiles([`${METAL3}/baremetalhost.yaml`]);
    expect(r.hosts).toEqual([]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(
        /baremetalhost\.yaml:24:35: spec\.preprovisioningNetworkDataName: Secret 'controlplane-0-networkdata' is not in this file/,
      ),
    ]);
  });

  it('reads stringData, networkData references and rootDeviceHints; reports bad base64 and unknown fields', () => {
    const file = path.join(tmp.dir, 'bmh.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Secret
metadata: { name: creds, namespace: site }
stringData: { username: root, password: calvin }
---
apiVersion: v1
kind: Secret
metadata: { name: net, namespace: site }
stringData:
  networkData: |
    interfaces: []
---
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: { name: worker-1, namespace: site, labels: { cluster-role: worker } }
spec:
  bmc: { address: "ilo5-virtualmedia://10.1.1.1/redfish/v1/Systems/1", credentialsName: creds }
  networkData: { name: net, namespace: site }
  rootDeviceHints: { serialNumber: S123 }
---
apiVersion: v1
kind: Secret
metadata: { name: bad }
data: { username: "not base64!", password: cGFzcw== }
---
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: { name: worker-2 }
spec:
  bmc: { address: "ipmi://10.1.1.2", credentialsName: bad }
  bootMacAddress: "52:54:00:00:00:02"
`,
    );
    const r = loadInventoryFiles([file]);
    const p = r.diagnostics.map(formatDiagnostic);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/bmh\.yaml:24:19: data\.username: is not valid base64/),
        expect.stringMatching(/bmh\.yaml:30:19: spec\.bmc\.address: .*IPMI is not supported/),
        expect.stringMatching(
          /bmh\.yaml:31:3: spec\.bootMacAddress: unknown field 'bootMacAddress' \(did you mean 'bootMACAddress'\?\)/,
        ),
      ]),
    );
    // The valid host parses when read on its own.
    const ok = parseInventory([{ file: 'ok.yaml', text: readFirstDocs(file, 3) }]);
    expect(ok.diagnostics).toEqual([]);
    expect(ok.hosts[0]!.spec).toMatchObject({
      name: 'worker-1',
      role: 'agent',
      online: false,
      rootDeviceHints: { serialNumber: 'S123' },
    });
    expect(ok.hosts[0]!.spec.networkData).toBe('interfaces: []\n');
    expect(ok.hosts[0]!.credentials).toEqual({ username: 'root', password: 'calvin' });
  });

  it('says so when a file has no BareMetalHost', () => {
    const r = loadInventoryFiles([`${METAL3}/rke2-control-plane.yaml`]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([expect.stringMatching(/no BareMetalHost found/)]);
  });
});

function readFirstDocs(file: string, n: number): string {
  return readFileSync(file, 'utf8').split('\n---\n').slice(0, n).join('\n---\n');
}
