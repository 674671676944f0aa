import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/index.ts';
import {
  clientFor,
  fakeSite,
  inventoryOf,
  listHosts,
  type ServiceProcess,
  summary,
  waitFor,
} from '../service/helpers.ts';

// Finding: the per-host installer ISO carries the host's callback token and was served at a guessable URL
// (`/media/hosts/<host name>.iso`) while inserted. Now its name is 128 random bits, new at each provisioning,
// it is served only while inserted at its host's BMC (and deleted at the eject), and its URL is never logged.
// A raw disk image (provisioning it builds this host's own installer ISO) and the checksum the build
// writes next to it (the installer verifies the image against it).
const raw = randomBytes(2 * 1024 * 1024);
const site = fakeSite('sec-host-iso', {
  hosts: 1,
  media: {
    'site.raw': raw,
    'site.raw.sha256': `${createHash('sha256').update(raw).digest('hex')}  site.raw\n`,
  },
});
const { stateDir, mediaDir } = site;
let lab: Lab;
let service: ServiceProcess;

beforeAll(async () => {
  ({ lab, service } = await site.start());
  await service.start();
});
afterAll(() => site.close());

const status = async (url: string) => (await fetch(url, { method: 'HEAD' })).status;

describe('per-host installer ISO', () => {
  it('is served at an unguessable URL, only while inserted, and the URL is never logged', async () => {
    const api = clientFor(service.url, stateDir);
    // A per-host ISO that no host has inserted is not served, even though the file is there.
    const stray = randomBytes(16).toString('hex');
    mkdirSync(path.join(mediaDir, 'hosts'), { recursive: true });
    writeFileSync(path.join(mediaDir, 'hosts', `${stray}.iso`), 'stray');
    expect(await status(`${service.url}/media/hosts/${stray}.iso`)).toBe(404);
    await api.request('POST', '/hosts', inventoryOf(lab));
    await waitFor('host-1 available', async () => (await listHosts(api))[0]?.state === 'available');
    await api.request('POST', '/hosts/host-1/provision', { image: 'site.raw' });
    const inserted = await waitFor(
      'the installer ISO inserted at the BMC',
      () => lab.status('host-1').media.find((m) => m.inserted && m.image)?.image ?? undefined,
      { timeoutMs: 300_000, intervalMs: 500, describe: async () => summary(await listHosts(api)) },
    );
    const name = /\/media\/hosts\/([0-9a-f]+)\.iso$/.exec(inserted)?.[1];
    expect(name, inserted).toMatch(/^[0-9a-f]{32}$/); // 128 random bits
    expect(inserted).not.toContain('host-1');
    expect(await status(`${service.url}/media/hosts/${name}.iso`)).toBe(200);
    for (const guess of ['host-1.iso', 'host-1', `${name!.slice(0, 31)}.iso`]) {
      expect(await status(`${service.url}/media/hosts/${guess}`), guess).toBe(404);
    }

    const config = JSON.parse(readFileSync(path.join(stateDir, 'host-config', 'host-1.json'), 'utf8'));
    const post = (body: object) =>
      fetch(config.callbackUrl, {
        method: 'POST',
        headers: { Authorization: `Bearer ${config.callbackToken}` },
        body: JSON.stringify(body),
      });
    expect((await post({ phase: 'installer', status: 'succeeded' })).status).toBe(200);
    lab.guestReboot('host-1');
    expect((await post({ phase: 'first-boot', status: 'succeeded' })).status).toBe(200);
    await waitFor('host-1 provisioned', async () => (await listHosts(api))[0]?.state === 'provisioned');
    // Ejected: the ISO, and the token in it, are gone from the media dir.
    expect(await status(`${service.url}/media/hosts/${name}.iso`)).toBe(404);

    const events = await api.request('GET', '/hosts/host-1/events');
    const timeline = await api.request('GET', '/hosts/host-1/timeline');
    expect(JSON.stringify(events)).not.toContain(name);
    expect(JSON.stringify(timeline)).not.toContain(name);
    expect(JSON.stringify(timeline)).toContain("inserted this host's installer ISO");
    expect(service.output).not.toContain(name);
  }, 400_000);
});
