import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { BundleContext } from '../../src/bundle/context.ts';
import type { BundleContribution } from '../../src/bundle/types.ts';
import { NETWORK_STEP, networkContribution } from '../../src/network/contributor.ts';
import { runApplyScript } from './support/apply-run.ts';
import { FIXTURES, GOLDEN, REPO, readTree, VALID_DIR } from './support/fixtures.ts';
import { runNetworkManager } from './support/nm-netns.ts';

const work = mkdtempSync(path.join(tmpdir(), 'outpost-apply-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A config dir with the given `network/` files, turned into the bundle the image would carry. */
async function bundleFor(name: string, networkFiles: Record<string, string>): Promise<string> {
  const configDir = path.join(work, name, 'config');
  mkdirSync(path.join(configDir, 'network'), { recursive: true });
  for (const [file, content] of Object.entries(networkFiles)) {
    writeFileSync(path.join(configDir, 'network', file), content, {
      mode: file.endsWith('.sh') ? 0o755 : 0o644,
    });
  }
  const ctx = { configDir, engine: 'systemd' } as unknown as BundleContext;
  const contribution: BundleContribution = await networkContribution(ctx);
  const bundleDir = path.join(work, name, 'combustion');
  for (const f of contribution.files) {
    mkdirSync(path.dirname(path.join(bundleDir, f.path)), { recursive: true });
    writeFileSync(path.join(bundleDir, f.path), f.content, { mode: f.mode });
  }
  for (const s of contribution.scripts)
    writeFileSync(path.join(bundleDir, s.name), s.content, { mode: 0o755 });
  return bundleDir;
}

function status(root: string): Record<string, string> {
  const text = readFileSync(path.join(root, 'var/lib/outpost/network.status'), 'utf8');
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

const installed = (root: string) => {
  const dir = path.join(root, 'etc/NetworkManager/system-connections');
  return existsSync(dir) ? readTree(dir) : {};
};
const example = readFileSync(path.join(REPO, 'network', 'edge-node-1.yaml'), 'utf8');
const bridge = readFileSync(path.join(VALID_DIR, 'bridge.yaml'), 'utf8');

describe('first-boot network step', () => {
  it('matches this machine by MAC, installs its profiles under the real names, sets the host name', async () => {
    const bundle = await bundleFor('match', { 'edge-node-1.yaml': example, 'bridge-host.yaml': bridge });
    const root = path.join(work, 'match', 'root');
    mkdirSync(path.join(root, 'run/NetworkManager/system-connections'), { recursive: true });
    writeFileSync(
      path.join(root, 'run/NetworkManager/system-connections/default_connection.nmconnection'),
      '[connection]\n',
    );
    const run = await runApplyScript({
      script: path.join(bundle, NETWORK_STEP),
      bundleDir: bundle,
      root,
      links: [
        { ifname: 'enp1s0', mac: '52:54:00:0e:d9:01' },
        { ifname: 'enp2s0', mac: '52:54:00:0e:d9:02' },
        { ifname: 'enp3s0', mac: '52:54:00:77:77:77' },
      ],
    });
    expect(run.exitCode, run.output).toBe(0);
    expect(status(root)).toMatchObject({
      source: 'image',
      host: 'edge-node-1',
      matched_macs: '2',
      result: 'applied',
      hostname: 'edge-node-1',
    });
    expect(run.hostname).toBe('edge-node-1');
    expect(readFileSync(path.join(root, 'etc/hostname'), 'utf8')).toBe('edge-node-1\n');
    const files = installed(root);
    expect(Object.keys(files).sort()).toEqual(['enp1s0.nmconnection', 'enp2s0.nmconnection']);
    expect(files['enp1s0.nmconnection']).toContain('id=enp1s0\n');
    expect(files['enp1s0.nmconnection']).toContain('interface-name=enp1s0\n');
    expect(files['enp1s0.nmconnection']).toContain('address1=192.168.122.50/24\n');
    expect(
      statSync(path.join(root, 'etc/NetworkManager/system-connections/enp1s0.nmconnection')).mode & 0o777,
    ).toBe(0o600);
    expect(readFileSync(path.join(root, 'etc/NetworkManager/conf.d/no-auto-default.conf'), 'utf8')).toBe(
      '[main]\nno-auto-default=*\n',
    );
    expect(readTree(path.join(root, 'run/NetworkManager/system-connections'))).toEqual({});

    // What was installed is what NetworkManager brings up on those NICs: static + DHCP, route, DNS.
    const nm = await runNetworkManager({
      links: [
        { ifname: 'enp1s0', mac: '52:54:00:0e:d9:01', peerAddress: '192.168.122.1/24' },
        {
          ifname: 'enp2s0',
          mac: '52:54:00:0e:d9:02',
          peerAddress: '10.77.0.1/24',
          dhcp: {
            start: '10.77.0.100',
            end: '10.77.0.110',
            router: '10.77.0.1',
            dns: '10.77.0.1',
            domain: 'dhcp.example',
          },
        },
      ],
      keyfiles: path.join(root, 'etc/NetworkManager/system-connections'),
      expect: [
        { ifname: 'enp1s0', address: /192\.168\.122\.50\/24/ },
        { ifname: 'enp2s0', address: /10\.77\.0\.1\d\d\/24/ },
      ],
    });
    expect(nm.activated, `${nm.missing.join(', ')}\n${nm.addresses}`).toBe(true);
    expect(nm.routes4).toMatch(/default via 192\.168\.122\.1 dev enp1s0 proto static metric 100/);
    expect(nm.resolvConf).toMatch(/nameserver 192\.168\.122\.1/);
    expect(nm.resolvConf).toMatch(/search edge\.example/);
  }, 90_000);

  it('no host matches: falls back to DHCP on every Ethernet link and records it', async () => {
    const bundle = await bundleFor('nomatch', { 'edge-node-1.yaml': example });
    const root = path.join(work, 'nomatch', 'root');
    const run = await runApplyScript({
      script: path.join(bundle, NETWORK_STEP),
      bundleDir: bundle,
      root,
      links: [{ ifname: 'ens3', mac: '52:54:00:99:99:99' }],
    });
    expect(run.exitCode, run.output).toBe(0);
    expect(status(root)).toMatchObject({ source: 'none', result: 'dhcp-fallback' });
    expect(status(root).hostname).toBeUndefined();
    expect(Object.keys(installed(root))).toEqual(['outpost-dhcp-ens3.nmconnection']);
    expect(run.output).toMatch(/falling back to DHCP/);

    const nm = await runNetworkManager({
      links: [
        {
          ifname: 'ens3',
          mac: '52:54:00:99:99:99',
          peerAddress: '10.88.0.1/24',
          dhcp: {
            start: '10.88.0.50',
            end: '10.88.0.60',
            router: '10.88.0.1',
            dns: '10.88.0.1',
            domain: 'fallback.example',
          },
        },
      ],
      keyfiles: path.join(root, 'etc/NetworkManager/system-connections'),
      expect: [{ ifname: 'ens3', address: /10\.88\.0\.(5\d|60)\/24/ }],
    });
    expect(nm.activated, `${nm.missing.join(', ')}\n${nm.addresses}`).toBe(true);
    expect(nm.resolvConf).toMatch(/nameserver 10\.88\.0\.1/);
  }, 90_000);

  it('a config-2 drive (Metal3 network data) takes precedence over the image, built as a real ISO', async () => {
    const bundle = await bundleFor('drive', { 'edge-node-1.yaml': example });
    const secret = parseYaml(readFileSync(path.join(FIXTURES, 'networkdata-secret.yaml'), 'utf8')) as {
      stringData: { networkData: string };
    };
    const content = path.join(work, 'drive', 'content');
    mkdirSync(path.join(content, 'openstack/latest'), { recursive: true });
    writeFileSync(path.join(content, 'openstack/latest/network_data.json'), secret.stringData.networkData);
    writeFileSync(
      path.join(content, 'openstack/latest/meta_data.json'),
      JSON.stringify({
        uuid: 'a5b1c2d3',
        'metal3-name': 'controlplane-0',
        'metal3-namespace': 'default',
        name: 'other',
      }),
    );
    // The drive as Ironic writes it: ISO 9660 labelled config-2. This kernel cannot mount ISO 9660, so
    // the label is checked with blkid and the content read back with xorriso into the folder the step
    // is pointed at; the device search and mount themselves run only on a real boot.
    const iso = path.join(work, 'drive', 'config-2.iso');
    await execa('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'config-2', '-J', '-R', '-o', iso, content]);
    const probe = await execa('blkid', ['-p', '-o', 'export', iso]);
    expect(probe.stdout).toMatch(/^LABEL=config-2$/m);
    expect(probe.stdout).toMatch(/^TYPE=iso9660$/m);
    const mounted = path.join(work, 'drive', 'mounted');
    await execa('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', mounted]);

    const root = path.join(work, 'drive', 'root');
    const run = await runApplyScript({
      script: path.join(bundle, NETWORK_STEP),
      bundleDir: bundle,
      root,
      configDriveDir: mounted,
      // The first NIC also matches the baked host file: the drive must still win.
      links: [
        { ifname: 'enp1s0', mac: '00:f3:65:8a:a3:b0' },
        { ifname: 'enp2s0', mac: '52:54:00:0e:d9:02' },
      ],
    });
    expect(run.exitCode, run.output).toBe(0);
    expect(status(root)).toMatchObject({
      source: 'config-drive',
      host: 'controlplane-0',
      config_drive: 'found',
      hostname: 'controlplane-0',
    });
    expect(run.hostname).toBe('controlplane-0');
    expect(Object.keys(installed(root))).toEqual(['enp1s0.nmconnection']);

    const nm = await runNetworkManager({
      links: [{ ifname: 'enp1s0', mac: '00:f3:65:8a:a3:b0', peerAddress: '192.168.125.1/24' }],
      keyfiles: path.join(root, 'etc/NetworkManager/system-connections'),
      expect: [{ ifname: 'enp1s0', address: /192\.168\.125\.200\/24/ }],
    });
    expect(nm.activated, `${nm.missing.join(', ')}\n${nm.addresses}`).toBe(true);
    expect(nm.routes4).toMatch(/default via 192\.168\.125\.1 dev enp1s0/);
    expect(nm.resolvConf).toMatch(/nameserver 192\.168\.125\.1/);
  }, 90_000);

  it('refused config-drive network data falls back to the image and says why', async () => {
    const bundle = await bundleFor('baddrive', { 'edge-node-1.yaml': example });
    const drive = path.join(work, 'baddrive', 'drive');
    mkdirSync(path.join(drive, 'openstack/latest'), { recursive: true });
    writeFileSync(
      path.join(drive, 'openstack/latest/network_data.json'),
      'interfaces:\n  - name: eth0\n    type: wifi\n',
    );
    const root = path.join(work, 'baddrive', 'root');
    const run = await runApplyScript({
      script: path.join(bundle, NETWORK_STEP),
      bundleDir: bundle,
      root,
      configDriveDir: drive,
      links: [{ ifname: 'enp1s0', mac: '52:54:00:0e:d9:01' }],
    });
    expect(run.exitCode, run.output).toBe(0);
    expect(run.output).toMatch(/network_data\.json:3: interfaces\[0\]\.type: must be one of/);
    expect(status(root)).toMatchObject({ source: 'image', host: 'edge-node-1' });
    expect(status(root).config_drive_error).toMatch(/interfaces\[0\]\.type/);
  }, 60_000);

  it('without NetworkManager: the host name is still set, the step fails and says why', async () => {
    const bundle = await bundleFor('nonm', { 'edge-node-1.yaml': example });
    const root = path.join(work, 'nonm', 'root');
    const run = await runApplyScript({
      script: path.join(bundle, NETWORK_STEP),
      bundleDir: bundle,
      root,
      links: [{ ifname: 'enp1s0', mac: '52:54:00:0e:d9:01' }],
      // /usr/sbin (NetworkManager) off the PATH, and no /etc/NetworkManager.
      env: { PATH: '/usr/bin:/bin', OUTPOST_NM_DIR: path.join(root, 'etc/no-NetworkManager') },
    });
    expect(run.exitCode, run.output).toBe(1);
    expect(run.output).toMatch(/NetworkManager is not installed/);
    expect(status(root)).toMatchObject({
      host: 'edge-node-1',
      error: 'networkmanager-missing',
      hostname: 'edge-node-1',
    });
    expect(readFileSync(path.join(root, 'etc/hostname'), 'utf8')).toBe('edge-node-1\n');
  }, 60_000);

  it("network/configure-network.sh replaces generation (EIB's custom script)", async () => {
    const script = '#!/bin/bash\nset -e\necho "custom network script ran in $PWD"\n';
    const bundle = await bundleFor('custom', { 'configure-network.sh': script, 'edge-node-1.yaml': example });
    expect(Object.hasOwn(readTree(path.join(bundle, 'network')), 'host_config.yaml')).toBe(false);
    const root = path.join(work, 'custom', 'root');
    const run = await runApplyScript({
      script: path.join(bundle, NETWORK_STEP),
      bundleDir: bundle,
      root,
      links: [{ ifname: 'enp1s0', mac: '52:54:00:0e:d9:01' }],
    });
    expect(run.exitCode, run.output).toBe(0);
    expect(run.output).toContain(`custom network script ran in ${path.join(bundle, 'network')}`);
    expect(status(root)).toMatchObject({ source: 'custom-script', result: 'custom-script-exit-0' });
    expect(installed(root)).toEqual({});
  }, 60_000);

  it("reads nm-configurator's own host map and keyfiles (its apply test data)", async () => {
    const bundle = await bundleFor('nmc', {});
    cpSync(
      path.join(GOLDEN, 'apply', 'config', 'host_config.yaml'),
      path.join(bundle, 'network', 'host_config.yaml'),
    );
    cpSync(path.join(GOLDEN, 'apply', 'node1'), path.join(bundle, 'network', 'node1'), { recursive: true });
    const root = path.join(work, 'nmc', 'root');
    const run = await runApplyScript({
      script: path.join(bundle, NETWORK_STEP),
      bundleDir: bundle,
      root,
      links: [
        { ifname: 'ens3', mac: '00:11:22:33:44:55' },
        { ifname: 'ens4', mac: '00:11:22:33:44:58' },
      ],
    });
    expect(run.exitCode, run.output).toBe(0);
    expect(status(root)).toMatchObject({ host: 'node1', matched_macs: '2' });
    const files = installed(root);
    expect(files['ens3.nmconnection']).toMatch(/^interface-name=ens3$/m);
    expect(files['ens4.nmconnection']).toMatch(/^interface-name=ens4$/m);
    // eth2 (no local NIC) and the bond are installed unchanged.
    expect(files['eth2.nmconnection']).toMatch(/^interface-name=eth2$/m);
    expect(files['bond0.nmconnection']).toBeDefined();
  }, 60_000);
});
