import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { writeConfigDrive } from '../../src/installer/config-drive.ts';
import {
  bootUntilChecked,
  buildExampleImage,
  type CheckedBoot,
  parseChecks,
  writeExampleConfigDir,
} from './support/example-image.ts';

/*
 * The example definition built against the Debian fixture (which has NetworkManager) and booted twice
 * in QEMU, in parallel, from two copies of the same output, so first boot runs in both:
 *   1. with edge-node-1's two NICs (network/edge-node-1.yaml): the static address, route and DNS from
 *      the host file on the first NIC, a DHCP lease from QEMU's user network on the second;
 *   2. with one NIC no host file knows, plus a config drive (ISO 9660 labelled config-2, a second
 *      virtio disk) carrying nmstate network data and a host name: the drive wins.
 * The check unit waits for NetworkManager (network-online.target), prints the network state as
 * `OUTPOST-CHECK key=value` lines and powers the VM off.
 */

const checkDir = path.join(import.meta.dirname, 'network-boot-check');
const EDGE_NODE_1_MACS = ['52:54:00:0e:d9:01', '52:54:00:0e:d9:02'];
/** In no host file of the example. */
const DRIVE_HOST_MAC = '52:54:00:0e:d9:77';
const BOOT_TIMEOUT_MS = 420_000;

/** Metal3's preprovisioning network data is nmstate YAML, stored as network_data.json. */
const DRIVE_NETWORK_DATA = `interfaces:
  - name: eth0
    type: ethernet
    state: up
    mac-address: "${DRIVE_HOST_MAC}"
    ipv4:
      enabled: true
      dhcp: false
      address:
        - ip: 10.0.2.77
          prefix-length: 24
    ipv6:
      enabled: false
routes:
  config:
    - destination: 0.0.0.0/0
      next-hop-address: 10.0.2.2
      next-hop-interface: eth0
dns-resolver:
  config:
    server:
      - 10.0.2.3
`;
const DRIVE_META_DATA = {
  uuid: '6e3b0b8e-8c1f-4d4e-9a43-1f0b1c7d2a77',
  'metal3-namespace': 'edge',
  'metal3-name': 'drive-host',
  local_hostname: 'drive-host',
  local_ipv4: '10.0.2.77',
};

let work = '';
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** An ISO 9660 config drive as Ironic writes it (the product's own writer): label config-2, openstack/latest. */
async function makeConfigDrive(dir: string): Promise<string> {
  const iso = path.join(dir, 'config-2.iso');
  await writeConfigDrive(iso, { metaData: DRIVE_META_DATA, networkData: DRIVE_NETWORK_DATA });
  return iso;
}

/** The interface carrying `mac`, from the `link.<if>=<mac>` checks. */
function interfaceWithMac(c: Map<string, string>, mac: string): string {
  for (const [key, value] of c)
    if (key.startsWith('link.') && value === mac) return key.slice('link.'.length);
  throw new Error(
    `no interface with MAC ${mac}; links: ${[...c].filter(([k]) => k.startsWith('link.')).join(' ')}`,
  );
}

/** Like Promise.all, but when one boot fails the other still ends (its VM killed) before afterAll runs. */
async function bothOrThrow<T>(boots: [Promise<T>, Promise<T>]): Promise<[T, T]> {
  const [a, b] = await Promise.allSettled(boots);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

function routes(c: Map<string, string>): string[] {
  return [...c].filter(([k]) => k.startsWith('route.')).map(([, v]) => v.replace(/\s+/g, ' ').trim());
}

/** Runs the assertions; on failure adds the check lines and first boot's network log from the serial console. */
function withBootLog(boot: CheckedBoot, name: string, assertions: () => void): void {
  try {
    assertions();
  } catch (error) {
    const relevant = boot.serial
      .split('\n')
      .filter((line) => /OUTPOST-CHECK|05-configure-network|outpost-firstboot:/.test(line))
      .slice(-120);
    (error as Error).message +=
      `\n--- ${name}: serial console (checks and first-boot lines) ---\n${relevant.join('\n')}`;
    throw error;
  }
}

describe('network configuration of the example image booted in QEMU', () => {
  it(
    'applies network/edge-node-1.yaml by MAC, and a config-2 drive over it',
    { timeout: 1_500_000 },
    async () => {
      work = await mkdtemp('/var/tmp/outpost-e2e-network-');
      const configDir = path.join(work, 'config');
      await mkdir(configDir);
      await writeExampleConfigDir(configDir, { checkDir });
      const { report, image } = await buildExampleImage(configDir, 'network');
      expect(report.image.engine).toBe('systemd');
      // A copy of the untouched output: first boot runs in both VMs.
      const driveImage = path.join(work, 'drive-host.raw');
      await execa('cp', ['--sparse=always', image, driveImage]);
      const configDrive = await makeConfigDrive(work);

      const [byMac, byDrive] = await bothOrThrow([
        bootUntilChecked(
          {
            name: 'edge-node-1',
            workDir: work,
            disks: [image],
            nics: EDGE_NODE_1_MACS.map((mac) => ({ mac })),
          },
          BOOT_TIMEOUT_MS,
        ),
        bootUntilChecked(
          {
            name: 'drive-host',
            workDir: work,
            disks: [driveImage],
            nics: [{ mac: DRIVE_HOST_MAC }],
            extraArgs: ['-drive', `file=${configDrive},format=raw,if=virtio,readonly=on`],
          },
          BOOT_TIMEOUT_MS,
        ),
      ]);

      const c1 = parseChecks(byMac.serial);
      const c2 = parseChecks(byDrive.serial);
      for (const [name, c] of [['edge-node-1', c1] as const, ['drive-host', c2] as const]) {
        const shown = [...c].filter(([k]) => /^(hostname|network\.status|keyfiles|link|addr|route)/.test(k));
        console.log(`${name}:\n${shown.map(([k, v]) => `  ${k}=${v}`).join('\n')}`);
      }

      // --- 1: the host file chosen by MAC --------------------------------------------------------
      withBootLog(byMac, 'edge-node-1', () => {
        expect(c1.get('firstboot.result')).toBe('success');
        expect(c1.get('hostname')).toBe('edge-node-1');
        const status = c1.get('network.status') ?? '';
        expect(status).toContain(
          'source=image host=edge-node-1 matched_macs=2 result=applied hostname=edge-node-1',
        );
        const staticIf = interfaceWithMac(c1, EDGE_NODE_1_MACS[0]!);
        const dhcpIf = interfaceWithMac(c1, EDGE_NODE_1_MACS[1]!);
        // The profiles were renamed from eth0/eth1 to the names the kernel gave the NICs.
        expect(c1.get('keyfiles')!.split(' ').sort()).toEqual(
          [`${staticIf}.nmconnection`, `${dhcpIf}.nmconnection`].sort(),
        );
        expect(c1.get(`addr.${staticIf}`)).toBe('192.168.122.50/24');
        expect(c1.get(`addr.${dhcpIf}`)).toMatch(/^10\.0\.2\.\d+\/24$/);
        // The route is configured; QEMU's user network does not answer for 192.168.122.1.
        expect(routes(c1)).toContainEqual(
          `default via 192.168.122.1 dev ${staticIf} proto static metric 100`,
        );
        expect(c1.get('nm.active')).toContain(`${staticIf}:${staticIf}`);
        expect(c1.get('nm.active')).toContain(`${dhcpIf}:${dhcpIf}`);
        expect(c1.get('resolv.nameservers')!.split(' ')[0]).toBe('192.168.122.1');
        expect(c1.get('resolv.search')).toContain('edge.example');
      });

      // --- 2: the config drive ------------------------------------------------------------------
      withBootLog(byDrive, 'drive-host', () => {
        expect(c2.get('firstboot.result')).toBe('success');
        expect(c2.get('hostname')).toBe('drive-host');
        const status = c2.get('network.status') ?? '';
        expect(status).toContain('config_drive=found source=config-drive host=drive-host result=applied');
        expect(status).toContain('hostname=drive-host');
        expect(status).not.toContain('config_drive_error');
        const nic = interfaceWithMac(c2, DRIVE_HOST_MAC);
        expect(c2.get('keyfiles')).toBe(`${nic}.nmconnection`);
        expect(c2.get(`addr.${nic}`)).toBe('10.0.2.77/24');
        expect(routes(c2)).toContainEqual(
          expect.stringMatching(new RegExp(`^default via 10\\.0\\.2\\.2 dev ${nic} proto static`)),
        );
        expect(c2.get('nm.active')).toContain(`${nic}:${nic}`);
        expect(c2.get('resolv.nameservers')!.split(' ')[0]).toBe('10.0.2.3');
      });

      console.log(
        `boot times (in parallel, one vCPU each): edge-node-1 ${byMac.seconds.toFixed(1)} s (uptime at check ${c1.get('uptime')} s, waited ${c1.get('network_wait_s')} s for NICs), drive-host ${byDrive.seconds.toFixed(1)} s (uptime ${c2.get('uptime')} s, waited ${c2.get('network_wait_s')} s)`,
      );
    },
  );
});
