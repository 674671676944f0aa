import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../../src/lab/index.ts';
import type { ServiceClient } from '../../src/service/client.ts';
import { redfishDriver } from '../../src/service/driver.ts';
import { type RunningService, startService } from '../../src/service/service.ts';
import type { HostView } from '../../src/service/views.ts';
import { clientFor, inventoryOf, listHosts, summary, tempDir, waitFor } from './helpers.ts';

// The real Redfish client against the lab's emulated BMCs (fake machines) over loopback HTTP.
const tmp = tempDir('lifecycle');
const stateDir = path.join(tmp.dir, 'state');
const mediaDir = path.join(tmp.dir, 'media');
let lab: Lab;
let service: RunningService;
let api: ServiceClient;
const log: string[] = [];

beforeAll(async () => {
  lab = await startLab({ hosts: 3, backend: 'fake', stateDir: path.join(tmp.dir, 'lab') });
  (await import('node:fs')).mkdirSync(mediaDir);
  writeFileSync(path.join(mediaDir, 'site.iso'), 'not really an ISO');
  service = await startService({
    stateDir,
    mediaDir,
    host: '127.0.0.1',
    port: 0,
    driver: redfishDriver({ retry: { attempts: 2, delayMs: 100 }, timeoutMs: 5000 }),
    timing: { backoffBaseMs: 200, backoffMaxMs: 1000 },
    log: (line) => log.push(line),
  });
  api = clientFor(service.url, stateDir);
});
afterAll(async () => {
  await service?.close();
  await lab?.close();
  tmp.cleanup();
});

const host = (name: string) => api.request<HostView>('GET', `/hosts/${name}`);

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

/** Plays the installer and first boot of a host: reads its per-host config (what the config drive carries). */
function hostConfig(name: string): { callbackUrl: string; callbackToken: string; image: string } {
  return JSON.parse(readFileSync(path.join(stateDir, 'host-config', `${name}.json`), 'utf8'));
}

async function report(name: string, body: object, token = hostConfig(name).callbackToken) {
  const r = await fetch(hostConfig(name).callbackUrl, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as { ok?: boolean; error?: string; message?: string } };
}

describe('host lifecycle against the lab (fake machines, real Redfish client)', () => {
  it('refuses API calls without the token', async () => {
    const r = await fetch(`${service.url}/api/v1/hosts`);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: string }).error).toMatch(/API token/);
  });

  it('registers and inspects imported hosts', async () => {
    const result = await api.request('POST', '/hosts', inventoryOf(lab, ['host-1', 'host-2']));
    expect(result).toEqual({ created: ['host-1', 'host-2'], updated: [], unchanged: [] });
    const h = await waitState('host-1', 'available');
    await waitState('host-2', 'available');
    expect(h.hardware?.nics?.map((n) => n.mac)).toContain(lab.hosts[0]!.bootMac);
    expect(h.hardware?.ramMebibytes).toBeGreaterThan(0);
    expect(h.hardware?.systemVendor?.serialNumber).toBe('LAB00001');
    expect(h.bmc.credentials).toBe('set');
  });

  it('provisions: inserts the image, boots once from CD, waits for the callbacks', async () => {
    await api.request('POST', '/hosts/host-1/provision', {
      image: 'site.iso',
      consumer: 'site-a',
      callbacks: true,
    });
    await waitFor(
      'host-1 to wait for the installer',
      async () => (await host('host-1')).step === 'installer',
    );
    const status = lab.status('host-1');
    expect(status.power).toBe('On');
    expect(status.boots.map((b) => b.device)).toEqual(['cd']);
    expect(status.boots[0]!.image).toBe(`${service.url}/media/site.iso`);
    // The BMC can fetch the image from our media server at the URL we gave it.
    expect(await (await fetch(status.boots[0]!.image!)).text()).toBe('not really an ISO');

    expect(
      (await report('host-1', { phase: 'installer', status: 'running', progress: 40 }, 'wrong')).status,
    ).toBe(401);
    const unknown = await fetch(`${service.url}/callbacks/nobody`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${hostConfig('host-1').callbackToken}` },
      body: '{"phase":"installer","status":"running"}',
    });
    expect(unknown.status).toBe(401);
    expect((await report('host-1', { phase: 'installer', status: 'bogus' })).body.error).toMatch(
      /status must be one of/,
    );
    expect((await report('host-1', { phase: 'installer', status: 'running', progress: 40 })).status).toBe(
      200,
    );
    expect((await host('host-1')).installProgress).toBe(40);
    expect((await report('host-1', { phase: 'installer', status: 'succeeded' })).status).toBe(200);
    // A repeated report (the installer resending after a timeout) changes nothing.
    expect((await report('host-1', { phase: 'installer', status: 'succeeded' })).body.message).toMatch(
      /already done/,
    );
    lab.guestReboot('host-1');
    expect(
      (await report('host-1', { phase: 'first-boot', status: 'succeeded', message: 'rke2 up' })).status,
    ).toBe(200);
    const h = await waitState('host-1', 'provisioned');
    expect(h.consumer).toBe('site-a');
    expect(lab.status('host-1').boots.map((b) => b.device)).toEqual(['cd', 'disk']);
    expect(lab.status('host-1').media.every((m) => !m.inserted)).toBe(true);
    const { timeline } = await api.request<{
      timeline: { state: string; steps: { step: string; result: string }[] }[];
    }>('GET', '/hosts/host-1/timeline');
    expect(timeline.map((p) => p.state)).toEqual(['registering', 'inspecting', 'provisioning']);
    expect(timeline[2]!.steps.map((s) => `${s.step}:${s.result}`)).toEqual([
      'power-off:succeeded',
      'prepare-media:succeeded',
      'insert-media:succeeded',
      'boot-once:succeeded',
      'power-on:succeeded',
      'installer:succeeded',
      'first-boot:succeeded',
      'eject-media:succeeded',
    ]);
    const { events } = await api.request<{ events: { reason: string }[] }>('GET', '/hosts/host-1/events');
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        'Registered',
        'Available',
        'ProvisioningStarted',
        'Installer',
        'FirstBoot',
        'Provisioned',
      ]),
    );
    expect(log.some((l) => /host-1 Provisioned/.test(l))).toBe(true);
  });

  it('powers a provisioned host off, on and reboots it', async () => {
    await api.request('POST', '/hosts/host-1/power', { action: 'off' });
    await waitFor(
      'power off',
      async () => lab.status('host-1').power === 'Off' && !(await host('host-1')).powerRequest,
    );
    expect((await host('host-1')).online).toBe(false);
    await api.request('POST', '/hosts/host-1/power', { action: 'on' });
    await waitFor(
      'power on',
      async () => lab.status('host-1').power === 'On' && !(await host('host-1')).powerRequest,
    );
    const boots = lab.status('host-1').boots.length;
    await api.request('POST', '/hosts/host-1/power', { action: 'reboot' });
    await waitFor('reboot', async () => !(await host('host-1')).powerRequest);
    expect(lab.status('host-1').boots.length).toBe(boots + 1);
    expect(lab.status('host-1').boots.at(-1)!.device).toBe('disk');
  });

  it('refuses actions in the wrong state with a clear message', async () => {
    await expect(
      api.request('POST', '/hosts/host-1/provision', { image: 'site.iso', callbacks: true }),
    ).rejects.toMatchObject({
      status: 409,
      message: expect.stringMatching(/host-1 is provisioned; only an available host can be provisioned/),
    });
    await expect(api.request('DELETE', '/hosts/host-1')).rejects.toMatchObject({ status: 409 });
    await expect(api.request('POST', '/hosts/host-2/provision', { image: 'nope.iso' })).rejects.toMatchObject(
      {
        status: 400,
        message: expect.stringMatching(/'nope.iso' is not in the media dir/),
      },
    );
    await expect(api.request('POST', '/hosts/host-2/power', { action: 'dance' })).rejects.toMatchObject({
      status: 400,
    });
    await expect(api.request('GET', '/hosts/nobody')).rejects.toMatchObject({ status: 404 });
  });

  it('deprovisions: powers off and ejects, the host is available again', async () => {
    await api.request('POST', '/hosts/host-1/deprovision');
    await waitState('host-1', 'available');
    expect(lab.status('host-1').power).toBe('Off');
    expect(lab.status('host-1').media.every((m) => !m.inserted)).toBe(true);
    // The old callback token is revoked.
    expect((await report('host-1', { phase: 'first-boot', status: 'succeeded' })).status).toBe(401);
  });

  it('a failed installer is a provisioning error retried from the start with backoff', async () => {
    await api.request('POST', '/hosts/host-2/provision', { image: 'site.iso', callbacks: true });
    await waitFor(
      'host-2 to wait for the installer',
      async () => (await host('host-2')).step === 'installer',
    );
    await report('host-2', {
      phase: 'installer',
      status: 'failed',
      message: 'no disk matches the root device hints',
    });
    const failed = await host('host-2');
    expect(failed.error).toMatchObject({ type: 'provisioning error', count: 1 });
    expect(failed.error!.message).toMatch(/installer failed: no disk matches/);
    // After the backoff it starts over: a second boot from CD.
    await waitFor(
      'host-2 to boot the installer again',
      () => lab.status('host-2').boots.filter((b) => b.device === 'cd').length === 2 || undefined,
    );
    await waitFor(
      'host-2 to wait for the installer again',
      async () => (await host('host-2')).step === 'installer',
    );
    expect((await host('host-2')).error).toBeUndefined();
    await api.request('POST', '/hosts/host-2/deprovision');
    await waitState('host-2', 'available');
  });

  it("accepts the installer's and the first-boot runner's own report formats (token in the URL too)", async () => {
    await api.request('POST', '/hosts/host-2/provision', { image: 'site.iso', callbacks: true });
    await waitFor(
      'host-2 to wait for the installer',
      async () => (await host('host-2')).step === 'installer',
    );
    expect((await report('host-2', { phase: 'write', status: 'running', progress: 30 })).status).toBe(200);
    expect((await host('host-2')).installProgress).toBe(30);
    expect((await report('host-2', { phase: 'config-drive', status: 'done' })).status).toBe(200);
    expect((await host('host-2')).step).toBe('installer');
    expect((await report('host-2', { phase: 'install', status: 'done' })).status).toBe(200);
    expect((await host('host-2')).step).toBe('first-boot');
    lab.guestReboot('host-2');
    // The first-boot runner only knows a URL: the token is its last path segment.
    const url = (hostConfig('host-2') as unknown as { callbackUrlWithToken: string }).callbackUrlWithToken;
    const runner = async (body: object) =>
      (
        await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).status;
    expect(await runner({ step: 'firstboot', status: 'started' })).toBe(200);
    expect(await runner({ step: '17-users.sh', status: 'ok' })).toBe(200);
    expect(await runner({ step: 'firstboot', status: 'done' })).toBe(200);
    expect((await fetch(url.replace(/\/[^/]+$/, '/wrongtoken'), { method: 'POST', body: '{}' })).status).toBe(
      401,
    );
    await waitState('host-2', 'provisioned');
    const { events } = await api.request<{ events: { reason: string; message: string }[] }>(
      'GET',
      '/hosts/host-2/events',
    );
    expect(events.map((e) => e.message)).toContain('17-users.sh succeeded');
    await api.request('POST', '/hosts/host-2/deprovision');
    await waitState('host-2', 'available');
  });

  it('wrong BMC credentials: a registration error that is not retried, fixed by importing again', async () => {
    const inventory = inventoryOf(lab, ['host-3']);
    inventory.hosts[0]!.bmc.password = 'wrong-password';
    await api.request('POST', '/hosts', inventory);
    const h = await waitFor(
      'a registration error',
      async () => {
        const v = await host('host-3');
        return v.error ? v : undefined;
      },
      { describe: async () => JSON.stringify((await host('host-3')).error) },
    );
    // Retrying cannot fix refused credentials: the host waits for the user, and the message says how.
    expect(h.error).toMatchObject({ count: 1, permanent: true });
    expect(h.error!.message).toMatch(
      /HTTP 401.*fix them in the inventory and run outpost hosts import again/,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect((await host('host-3')).error).toMatchObject({ count: 1 });
    expect(h.state).toBe('registering');
    expect(h.error!.type).toBe('registration error');
    expect(h.error!.message).not.toContain('wrong-password');
    expect(await api.request('POST', '/hosts', inventoryOf(lab, ['host-3']))).toEqual({
      created: [],
      updated: ['host-3'],
      unchanged: [],
    });
    const ok = await waitState('host-3', 'available');
    expect(ok.error).toBeUndefined();
    expect(await api.request('POST', '/hosts', inventoryOf(lab, ['host-3']))).toEqual({
      created: [],
      updated: [],
      unchanged: ['host-3'],
    });
    await api.request('DELETE', '/hosts/host-3');
    expect((await listHosts(api)).map((x) => x.name)).toEqual(['host-1', 'host-2']);
  });

  it('re-inspects an available host on request', async () => {
    await api.request('POST', '/hosts/host-2/inspect');
    await waitState('host-2', 'available');
    const { timeline } = await api.request<{ timeline: { state: string }[] }>(
      'GET',
      '/hosts/host-2/timeline',
    );
    expect(timeline.filter((p) => p.state === 'inspecting')).toHaveLength(2);
  });
});
