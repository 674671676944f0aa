import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../../src/lab/index.ts';
import type { ServiceClient } from '../../src/service/client.ts';
import { redfishDriver } from '../../src/service/driver.ts';
import { type RunningService, startService } from '../../src/service/service.ts';
import type { HostView } from '../../src/service/views.ts';
import { clientFor, inventoryOf, listHosts, summary, tempDir, waitFor } from './helpers.ts';

// What a user reads must be true: errors retrying cannot fix stop at once and say what to do, retries
// show while they happen, `online` is the desired power state. Real Redfish client, emulated BMCs.
const tmp = tempDir('honest');
const stateDir = path.join(tmp.dir, 'state');
const mediaDir = path.join(tmp.dir, 'media');
let lab: Lab;
let service: RunningService;
let api: ServiceClient;

beforeAll(async () => {
  lab = await startLab({
    hosts: 3,
    backend: 'fake',
    stateDir: path.join(tmp.dir, 'lab'),
    // host-3's BMC answers its first GETs with 500s: the client retries them.
    faults: [{ host: 'host-3', operation: 'get', kind: 'server-error', count: 2 }],
  });
  mkdirSync(mediaDir);
  writeFileSync(path.join(mediaDir, 'vendor.iso'), 'an ISO that reports nothing');
  const raw = Buffer.alloc(1 << 20, 7);
  writeFileSync(path.join(mediaDir, 'site.raw'), raw);
  writeFileSync(path.join(mediaDir, 'unsigned.raw'), raw);
  // A .sha256 that does not match: the image was swapped or damaged after the build.
  const wrong = createHash('sha256').update('something else').digest('hex');
  writeFileSync(path.join(mediaDir, 'site.raw.sha256'), `${wrong}  site.raw\n`);
  service = await startService({
    stateDir,
    mediaDir,
    host: '127.0.0.1',
    port: 0,
    driver: redfishDriver({ retry: { attempts: 4, delayMs: 50 }, timeoutMs: 5000 }),
    timing: { backoffBaseMs: 200, backoffMaxMs: 1000, powerSyncMs: 300 },
  });
  api = clientFor(service.url, stateDir);
  await api.request('POST', '/hosts', inventoryOf(lab));
  for (const h of lab.hosts) await waitState(h.name, 'available');
});
afterAll(async () => {
  await service?.close();
  await lab?.close();
  tmp.cleanup();
});

const host = (name: string) => api.request<HostView>('GET', `/hosts/${name}`);
const events = async (name: string) =>
  (await api.request<{ events: { reason: string; message: string }[] }>('GET', `/hosts/${name}/events`))
    .events;

async function waitState(name: string, state: string, timeoutMs = 20_000): Promise<HostView> {
  return waitFor(
    `host ${name} to be ${state}`,
    async () => {
      const h = await host(name);
      return h.state === state && !h.step ? h : undefined;
    },
    { timeoutMs, describe: async () => summary(await listHosts(api)) },
  );
}

describe('honest lifecycle semantics', () => {
  it('shows each retry of a BMC request as it happens, in the events and the timeline', async () => {
    const texts = (await events('host-3')).map((e) => e.message);
    expect(texts).toContainEqual(expect.stringMatching(/^retrying 2\/4: GET \/redfish\/v1\/.*HTTP 500/));
    expect(texts).toContainEqual(expect.stringMatching(/^retrying 3\/4: /));
    const { timeline } = await api.request<{ timeline: { steps: { message?: string }[] }[] }>(
      'GET',
      '/hosts/host-3/timeline',
    );
    // The step that needed retries says so in its row (it succeeded after them).
    expect(timeline[0]!.steps[0]!.message).toBeDefined();
  });

  it('refuses an ISO that cannot report back unless --no-callbacks, and a raw image without .sha256 unless --no-checksum', async () => {
    await expect(
      api.request('POST', '/hosts/host-1/provision', { image: 'vendor.iso' }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/inserted as it is: nothing on it reports.*--no-callbacks/),
    });
    await expect(
      api.request('POST', '/hosts/host-1/provision', { image: 'unsigned.raw' }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/no unsigned\.raw\.sha256 .*--no-checksum/),
    });
    await expect(
      api.request('POST', '/hosts/host-1/provision', { image: 'site.raw', callbacks: false }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/reports every step itself/) });
    expect((await host('host-1')).state).toBe('available');
  });

  it('stops at a checksum mismatch with what to do, instead of retrying it', async () => {
    await api.request('POST', '/hosts/host-1/provision', { image: 'site.raw', consumer: 'site-a' });
    const failed = await waitFor('a provisioning error on host-1', async () => {
      const h = await host('host-1');
      return h.error ? h : undefined;
    });
    expect(failed.step).toBe('prepare-media');
    expect(failed.error).toMatchObject({ type: 'provisioning error', count: 1, permanent: true });
    expect(failed.error!.message).toMatch(
      /checksum mismatch: site\.raw does not match site\.raw\.sha256 .*then deprovision host-1 and provision it again/,
    );
    // Well past the backoff (200 ms): still one attempt, and the timeline shows the failed step.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await host('host-1')).error!.count).toBe(1);
    const { timeline } = await api.request<{
      timeline: { state: string; steps: { step: string; result: string }[] }[];
    }>('GET', '/hosts/host-1/timeline');
    expect(timeline.at(-1)!.steps.at(-1)).toMatchObject({ step: 'prepare-media', result: 'failed' });
    expect((await events('host-1')).at(-1)!.message).toMatch(/\(attempt 1; not retried\)$/);
  });

  it('deprovisioning clears the consumer and the image, and ONLINE becomes false (POWER is what the BMC says)', async () => {
    expect((await host('host-1')).online).toBe(true);
    await api.request('POST', '/hosts/host-1/deprovision');
    const h = await waitState('host-1', 'available');
    expect(h.consumer).toBeUndefined();
    expect(h.image).toBeUndefined();
    expect(h.error).toBeUndefined();
    expect(h.online).toBe(false);
    expect(h.powerState).toBe('Off');
  });

  it('importing the inventory again never flips online back', async () => {
    await api.request('POST', '/hosts/host-2/power', { action: 'off' });
    await waitFor('host-2 powered off', async () => {
      const h = await host('host-2');
      return !h.powerRequest && h.online === false ? h : undefined;
    });
    const again = await api.request<{ unchanged: string[] }>('POST', '/hosts', inventoryOf(lab));
    expect(again.unchanged).toContain('host-2');
    expect((await host('host-2')).online).toBe(false);
  });

  it('--no-callbacks: provisioned when the BMC reports the boot from disk after the CD boot', async () => {
    await api.request('POST', '/hosts/host-2/provision', { image: 'vendor.iso', callbacks: false });
    // The installer ISO booted (the one-time CD override was used); it then reboots into the installed disk.
    await waitFor('host-2 to boot from the CD', () =>
      lab.status('host-2').boots.some((b) => b.device === 'cd'),
    );
    await waitFor(
      'host-2 to watch for the boot from disk',
      async () => (await host('host-2')).step === 'first-boot',
      {
        timeoutMs: 20_000,
        describe: async () => summary(await listHosts(api)),
      },
    );
    expect((await host('host-2')).state).toBe('provisioning');
    lab.guestReboot('host-2');
    const h = await waitState('host-2', 'provisioned');
    expect(lab.status('host-2').boots.at(-1)!.device).toBe('disk');
    expect(h.online).toBe(true);
    const { timeline } = await api.request<{
      timeline: { state: string; steps: { step: string; message?: string }[] }[];
    }>('GET', '/hosts/host-2/timeline');
    const steps = Object.fromEntries(
      timeline
        .filter((p) => p.state === 'provisioning')
        .at(-1)!
        .steps.map((s) => [s.step, s.message]),
    );
    expect(steps.installer).toMatch(
      /the BMC reports the one-time CD boot used \(BootProgress OSBootStarted\)/,
    );
    expect(steps['first-boot']).toMatch(/the BMC reports a boot from disk at /);
  });

  it('POWER follows the BMC when a host is switched off behind the service; ONLINE stays what is wanted', async () => {
    expect((await host('host-2')).powerState).toBe('On');
    lab.guestPowerOff('host-2');
    const off = await waitFor('host-2 to show power Off', async () => {
      const h = await host('host-2');
      return h.powerState === 'Off' ? h : undefined;
    });
    expect(off).toMatchObject({ state: 'provisioned', online: true });
    expect(off.error).toBeUndefined();
    expect((await events('host-2')).at(-1)).toMatchObject({
      reason: 'PowerStateSynced',
      message: 'the BMC reports power Off (online: true)',
    });
  });
});
