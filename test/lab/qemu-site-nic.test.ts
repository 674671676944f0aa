/**
 * One QEMU lab server on a site network: its second NIC is a tap on the bridge, a tiny guest puts the
 * host's site address on it, and this machine reaches it from the root namespace through the gateway veth
 * (ping, and ARP resolving to the host's siteMac). A BMC power cycle gives QEMU a fresh tap, and the
 * guest is reachable again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { createSiteNetwork } from '../../src/lab/site-network.ts';
import { serveFiles } from '../fixtures/lab-file-server.ts';
import { SITE_NIC_READY, siteNicIso } from '../fixtures/marker-iso.ts';
import { connectClient, withLab } from '../fixtures/redfish-lab.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Waits (at most 240 s) until the serial console shows SITE_NIC_READY `count` times. */
async function waitReady(serialLog: string, count: number): Promise<void> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    const log = await readFile(serialLog, 'utf8').catch(() => '');
    if (log.split(SITE_NIC_READY).length - 1 >= count) return;
    if (Date.now() > deadline)
      throw new Error(`no ${SITE_NIC_READY} #${count} on ${serialLog} within 240 s:\n${log.slice(-2000)}`);
    await sleep(1000);
  }
}

/** Pings until one echo comes back (at most 10 tries of up to 3 s: the guest's link may just be coming up). */
async function pingUntilAnswered(address: string): Promise<string> {
  let last = '';
  for (let i = 0; i < 10; i++) {
    const r = await execa('ping', ['-c', '1', '-W', '3', address], { reject: false });
    if (r.exitCode === 0) return r.stdout;
    last = r.stdout + r.stderr;
  }
  throw new Error(`${address} never answered a ping:\n${last}`);
}

describe('QEMU lab server on the site network', () => {
  it('is reachable at its site address from the root namespace, also after a BMC power cycle', async () => {
    const site = await createSiteNetwork();
    cleanup.push(site.close);
    const lab = await withLab({
      hosts: 1,
      backend: 'qemu',
      vendor: 'hpe',
      siteNetwork: site,
      qemu: { memoryMiB: 384, diskGiB: 1, ovmf: false },
    });
    cleanup.push(lab.stop);
    const host = lab.hosts[0]!;
    expect(host.siteMac).toBe('52:54:00:6d:00:01');
    expect(host.siteAddress).toBe(site.serverAddress(0));
    expect(lab.status(host.name).siteMac).toBe(host.siteMac);

    const iso = path.join(await mkdtemp(path.join(os.tmpdir(), 'outpost-site-nic-')), 'site-nic.iso');
    cleanup.push(() => rm(path.dirname(iso), { recursive: true, force: true }));
    await siteNicIso(iso, {
      mac: host.siteMac!,
      address: host.siteAddress!,
      prefixLength: site.prefixLength,
    });
    const files = await serveFiles([iso]);
    cleanup.push(files.close);
    const { client } = await connectClient(host, { timeoutMs: 30_000, retry: { attempts: 3, delayMs: 500 } });
    cleanup.push(() => client.close());
    await client.insertMedia(files.urlOf(iso));

    const started = Date.now();
    for (const round of [1, 2]) {
      await client.setBootOnce('Cd');
      await client.power('on');
      await waitReady(host.serialLog!, round);
      await pingUntilAnswered(host.siteAddress!).catch(async (error: Error) => {
        const console = (await readFile(host.serialLog!, 'utf8')).slice(-3000);
        const bridge = (await execa('ip', ['-n', site.namespace, '-br', 'link'])).stdout;
        throw new Error(`${error.message}\nbridge:\n${bridge}\nguest console:\n${console}`);
      });
      const neighbour = (await execa('ip', ['neigh', 'show', host.siteAddress!])).stdout;
      expect(neighbour).toContain(`lladdr ${host.siteMac}`);
      expect(neighbour).toContain(`dev os-`);
      // A fresh tap for this start is on the bridge inside the namespace; none is left in the root one.
      const inside = (await execa('ip', ['-n', site.namespace, '-br', 'link', 'show', 'master', site.bridge]))
        .stdout;
      expect(inside.split('\n').filter((l) => !l.startsWith('site-gw'))).toHaveLength(1);
      await client.power('off');
      // The next round must find the guest again through a new tap, not a stale ARP entry.
      await execa('ip', ['neigh', 'flush', 'to', host.siteAddress!]);
    }
    process.stdout.write(
      `two boots with the site NIC reachable: ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    const namespace = site.namespace;
    await lab.stop();
    await site.close();
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(namespace);
  }, 600_000);
});
