import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ensureDebianBaseImage } from '../fixtures/base-images.ts';
import { freePort } from '../service/helpers.ts';
import { SerialVm } from '../support/serial-vm.ts';

/*
 * The management appliance built by `outpost appliance` from a small definition on the Debian fixture,
 * with a site kit (two hosts) and an inventory (one host), booted in QEMU (TCG, OVMF, one vCPU, 1.5 GiB) with a user-net port forward
 * to the service. From the host: the API token is read from the serial console, the API answers with the
 * inventory's hosts, the console page answers. Boot-to-API time is printed.
 */

const repoRoot = path.resolve(import.meta.dirname, '../..');
const GUEST_PORT = 8080;
const TOKEN_TIMEOUT_MS = 900_000;
const IMPORT_TIMEOUT_MS = 300_000;
const MAC = '52:54:00:0a:99:01';

let work = '';
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const definition = {
  apiVersion: '1.3',
  image: { imageType: 'raw', arch: 'x86_64', baseImage: 'debian-12.raw', outputImageName: 'mgmt.raw' },
  operatingSystem: {
    systemd: {
      enable: ['serial-getty@ttyS0.service'],
      disable: ['apt-daily.timer', 'apt-daily-upgrade.timer'],
    },
    // Room for outpost unpacked next to its payload during the first boot (docs/appliance.md).
    rawConfiguration: { diskSize: '2G' },
  },
};

/**
 * Hosts whose "BMCs" are closed ports on the host's loopback (the guest's 10.0.2.2): the service
 * registers them and retries; nothing leaves the machine. The inventory is what counts here. Two come
 * in the site kit (without credentials; the secrets file gives them), one in a plain inventory.
 */
const inventoryOf = (names: string[], first: number) => ({
  hosts: names.map((name, j) => {
    const i = first + j;
    return {
      name,
      bmc: {
        address: `redfish-virtualmedia+http://10.0.2.2:${i + 1}/redfish/v1/Systems/1`,
        username: 'admin',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: an inventory's ${ENV} reference, resolved at build time
        password: '${BMC_PASSWORD}',
      },
      bootMACAddress: `52:54:00:0a:00:0${i + 1}`,
    };
  }),
});
const KIT_HOSTS = ['rack1-node-1', 'rack1-node-2'];
const INVENTORY_HOSTS = ['rack2-node-1'];
const ALL_HOSTS = [...KIT_HOSTS, ...INVENTORY_HOSTS].sort();

async function getJson(url: string, token: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(20_000),
  });
  return {
    status: res.status,
    body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text(),
  };
}

describe('the management appliance in QEMU', () => {
  it(
    'boots to an API that holds the site inventory, with its console, from a port forward',
    { timeout: 1_800_000 },
    async () => {
      work = await mkdtemp('/var/tmp/outpost-e2e-appliance-');
      const configDir = path.join(work, 'config');
      await mkdir(path.join(configDir, 'base-images'), { recursive: true });
      await symlink(await ensureDebianBaseImage(), path.join(configDir, 'base-images', 'debian-12.raw'));
      await writeFile(path.join(configDir, 'mgmt.yaml'), stringify(definition));
      await writeFile(path.join(work, 'kit-inventory.yaml'), stringify(inventoryOf(KIT_HOSTS, 0)));
      await writeFile(path.join(work, 'inventory.yaml'), stringify(inventoryOf(INVENTORY_HOSTS, 2)));
      await writeFile(
        path.join(work, 'kit-secrets.yaml'),
        stringify({
          credentials: KIT_HOSTS.map((host) => ({ host, username: 'admin', password: 'kit-bmc-secret' })),
        }),
      );
      // The site kit: its definition (a site image, not built here) and the inventory without credentials.
      const siteDir = path.join(work, 'site');
      await mkdir(siteDir);
      await writeFile(
        path.join(siteDir, 'site.yaml'),
        stringify({ apiVersion: '1.3', image: { ...definition.image, outputImageName: 'site.raw' } }),
      );
      const kit = path.join(work, 'site.kit.tar.zst');
      await execa(
        process.execPath,
        [
          path.join(repoRoot, 'bin/outpost.js'),
          'kit',
          'create',
          '--output',
          kit,
          '--config-dir',
          siteDir,
          '--definition-file',
          'site.yaml',
          '--inventory',
          path.join(work, 'kit-inventory.yaml'),
          '--no-base-images',
        ],
        { env: { BMC_PASSWORD: 'kit-bmc-secret' } },
      );

      const started = performance.now();
      const built = await execa(
        process.execPath,
        [
          path.join(repoRoot, 'bin/outpost.js'),
          'appliance',
          '--config-dir',
          configDir,
          '--definition-file',
          'mgmt.yaml',
          '--inventory',
          path.join(work, 'inventory.yaml'),
          '--kit',
          kit,
          '--kit-secrets',
          path.join(work, 'kit-secrets.yaml'),
          '--listen',
          `0.0.0.0:${GUEST_PORT}`,
          '--output',
          'json',
        ],
        { env: { BMC_PASSWORD: 'appliance-bmc-secret' }, reject: false },
      );
      if (built.exitCode !== 0)
        throw new Error(`outpost appliance exited ${built.exitCode}:\n${built.stderr.slice(-3000)}`);
      const report = JSON.parse(built.stdout);
      const image = report.raw.outputs.find((o: { role: string }) => o.role === 'image');
      console.log(
        `appliance build: ${((performance.now() - started) / 1000).toFixed(1)} s; payload ${(report.payload.bytes / 2 ** 20).toFixed(0)} MiB ` +
          `(${report.payload.packages} packages); image ${(image.bytes / 2 ** 20).toFixed(0)} MiB apparent, ` +
          `${(await execa('du', ['-m', image.path])).stdout.split('\t')[0]} MiB allocated`,
      );
      // The build directory keeps no readable copy of a BMC password (the inventory's, the kit's secrets).
      const buildFiles = await execa(
        'grep',
        ['-rlE', 'appliance-bmc-secret|kit-bmc-secret', report.raw.buildDir],
        {
          reject: false,
        },
      );
      expect(buildFiles.stdout).toBe('');

      const hostPort = await freePort();
      const base = `http://127.0.0.1:${hostPort}`;
      const bootStarted = performance.now();
      const vm = new SerialVm({
        name: 'appliance',
        workDir: work,
        firmware: 'uefi',
        disks: [image.path],
        memoryMiB: 1536,
        nics: [{ mac: MAC, forwards: [{ hostPort, guestPort: GUEST_PORT }] }],
      });
      try {
        const serial = await vm.waitFor(/API token: ([A-Za-z0-9_-]{16,})/, TOKEN_TIMEOUT_MS);
        const token = /API token: ([A-Za-z0-9_-]{16,})/.exec(serial)![1]!;
        const tokenSeconds = (performance.now() - bootStarted) / 1000;
        expect(serial).not.toContain('outpost-firstboot: FAILED');

        // Bounded poll: the API answers (first 200), then holds every host once the imports ran.
        let apiSeconds = 0;
        let names: string[] = [];
        const deadline = Date.now() + IMPORT_TIMEOUT_MS;
        while (Date.now() < deadline) {
          const res = await getJson(`${base}/api/v1/hosts`, token).catch(() => undefined);
          if (res?.status === 200) {
            apiSeconds ||= (performance.now() - bootStarted) / 1000;
            names = ((res.body as { hosts: { name: string }[] }).hosts ?? []).map((h) => h.name).sort();
            if (names.length === ALL_HOSTS.length) break;
          }
          await new Promise((r) => setTimeout(r, 2000));
        }
        const importSeconds = (performance.now() - bootStarted) / 1000;
        expect(apiSeconds, 'the API never answered 200 through the port forward').toBeGreaterThan(0);
        expect(names).toEqual(ALL_HOSTS);

        const wrongToken = await getJson(`${base}/api/v1/hosts`, 'not-the-token');
        expect(wrongToken.status).toBe(401);
        const page = await fetch(`${base}/`, { signal: AbortSignal.timeout(20_000) });
        expect(page.status).toBe(200);
        expect(page.headers.get('content-type')).toContain('text/html');
        expect(await page.text()).toContain('outpost');
        const health = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(20_000) });
        expect(await health.json()).toEqual({ ok: true });

        expect(vm.serial()).toMatch(
          /appliance: outpost installed in \/opt\/outpost \(\d+ MiB\), 3 file\(s\) to import/,
        );
        console.log(
          `appliance boot: token on the console after ${tokenSeconds.toFixed(1)} s, API answered after ` +
            `${apiSeconds.toFixed(1)} s, inventory imported by ${importSeconds.toFixed(1)} s (TCG, one vCPU)`,
        );
      } finally {
        vm.kill();
      }
    },
  );
});
