import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { type Lab, startLab } from '../../src/lab/index.ts';
import type { VendorProfileName } from '../../src/lab/profiles.ts';
import { ServiceClient } from '../../src/service/client.ts';
import { redfishDriver } from '../../src/service/driver.ts';
import { type RunningService, type ServiceOptions, startService } from '../../src/service/service.ts';
import { tempDir } from '../service/helpers.ts';

/** Debian's Chromium, driven by playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'];

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: the tests run as root in a container, where Chromium's sandbox cannot start.
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu'],
    timeout: 30_000,
  });
}

export interface SiteHost {
  name: string;
  lab: Lab;
  labName: string;
}

/**
 * A fake-lab site: one emulated BMC fleet per vendor (fake machines, real Redfish over loopback) and
 * `outpost serve` in this process. Host names say the vendor (dell-1, hpe-1, ...).
 */
export async function startSite(
  fleets: { vendor: VendorProfileName; hosts: number }[],
  options: Partial<ServiceOptions> = {},
) {
  const tmp = tempDir('console');
  const stateDir = path.join(tmp.dir, 'state');
  const mediaDir = path.join(tmp.dir, 'media');
  mkdirSync(mediaDir);
  writeFileSync(path.join(mediaDir, 'site.iso'), Buffer.alloc(3 * 1048576));
  writeFileSync(path.join(mediaDir, 'rescue.iso'), 'a live image');
  const labs: Lab[] = [];
  const hosts: SiteHost[] = [];
  let service: RunningService | undefined;
  const close = async () => {
    await service?.close();
    for (const lab of labs) await lab.close();
    tmp.cleanup();
  };
  try {
    for (const fleet of fleets) {
      const lab = await startLab({
        hosts: fleet.hosts,
        backend: 'fake',
        vendor: fleet.vendor,
        stateDir: path.join(tmp.dir, `lab-${fleet.vendor}`),
      });
      labs.push(lab);
      lab.hosts.forEach((h, i) => {
        hosts.push({ name: `${fleet.vendor}-${i + 1}`, lab, labName: h.name });
      });
    }
    service = await startService({
      stateDir,
      mediaDir,
      host: '127.0.0.1',
      port: 0,
      driver: redfishDriver({ retry: { attempts: 2, delayMs: 100 }, timeoutMs: 5000 }),
      timing: { backoffBaseMs: 200, backoffMaxMs: 1000 },
      log: () => {},
      ...options,
    });
  } catch (error) {
    await close();
    throw error;
  }
  const token = readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim();
  const api = new ServiceClient(service.url, token);
  const running = service;
  return {
    url: running.url,
    stateDir,
    mediaDir,
    dir: tmp.dir,
    token,
    api,
    hosts,
    close,
    /** The site's inventory for POST /api/v1/hosts. */
    inventory(names?: string[]) {
      return {
        hosts: hosts
          .filter((h) => !names || names.includes(h.name))
          .map((h) => {
            const lab = h.lab.hosts.find((l) => l.name === h.labName)!;
            return {
              name: h.name,
              bmc: { address: lab.bmcAddress, username: lab.username, password: lab.password },
              // Each fleet numbers its MACs alike: a unique one per host keeps the inventory valid.
              bootMACAddress: `52:54:00:aa:00:${(hosts.indexOf(h) + 1).toString(16).padStart(2, '0')}`,
              role: h.name.endsWith('-1') ? 'server' : 'agent',
            };
          }),
      };
    },
    labStatus(name: string) {
      const h = hosts.find((x) => x.name === name)!;
      return h.lab.status(h.labName);
    },
    /** Plays the installer or first boot of a host: posts a report with its callback token. */
    async report(name: string, body: object): Promise<number> {
      const config = JSON.parse(readFileSync(path.join(stateDir, 'host-config', `${name}.json`), 'utf8'));
      const r = await fetch(config.callbackUrl, {
        method: 'POST',
        headers: { Authorization: `Bearer ${config.callbackToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      await r.arrayBuffer();
      return r.status;
    },
  };
}

export type Site = Awaited<ReturnType<typeof startSite>>;
