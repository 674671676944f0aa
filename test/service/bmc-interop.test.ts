import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, type ProfileName, startLab } from '../../src/lab/index.ts';
import type { ServiceClient } from '../../src/service/client.ts';
import { type BmcDriver, redfishDriver } from '../../src/service/driver.ts';
import { type RunningService, startService } from '../../src/service/service.ts';
import type { HostView } from '../../src/service/views.ts';
import { clientFor, listHosts, OUTPOST, summary, tempDir, waitFor } from './helpers.ts';

// The service end to end (real Redfish client, real API and CLI) against the lab's behaviour profiles:
// one lab per profile, one host each, named after the profile.
const tmp = tempDir('bmc-interop');
const stateDir = path.join(tmp.dir, 'state');
const mediaDir = path.join(tmp.dir, 'media');
const PROFILES: ProfileName[] = [
  'sparse-inventory',
  'failing-inventory',
  'multi-socket',
  'boot-continuous',
  'boot-once-refused',
  'patch-no-allow',
  'generic',
];
const labs = new Map<string, Lab>();
let service: RunningService;
let api: ServiceClient;
/** Inspections through the `slow` lab wait for this gate, so a test can find a host mid-inspection. */
let releaseInspection: () => void = () => {};
const inspectionGate = new Promise<void>((resolve) => {
  releaseInspection = resolve;
});

function gatedDriver(inner: BmcDriver): BmcDriver {
  return {
    async connect(target) {
      const session = await inner.connect(target);
      const slow = labs.get('slow')!.hosts[0]!.bmcAddress;
      if (target.address !== slow) return session;
      return {
        ...session,
        inspect: async () => {
          await inspectionGate;
          return session.inspect();
        },
      };
    },
  };
}

beforeAll(async () => {
  for (const vendor of PROFILES) {
    const faults =
      vendor === 'generic'
        ? [{ operation: 'eject-media' as const, kind: 'server-error' as const, count: 1000 }]
        : [];
    labs.set(
      vendor,
      await startLab({
        hosts: 1,
        backend: 'fake',
        vendor,
        faults,
        stateDir: path.join(tmp.dir, `lab-${vendor}`),
      }),
    );
  }
  // A BMC that keeps only Continuous, for an ISO that cannot call back.
  labs.set(
    'continuous-nocb',
    await startLab({
      hosts: 1,
      backend: 'fake',
      vendor: 'boot-continuous',
      stateDir: path.join(tmp.dir, 'lab-continuous-nocb'),
    }),
  );
  for (const extra of ['slow', 'clean', 'noclean'])
    labs.set(
      extra,
      await startLab({ hosts: 1, backend: 'fake', stateDir: path.join(tmp.dir, `lab-${extra}`) }),
    );
  mkdirSync(mediaDir);
  writeFileSync(path.join(mediaDir, 'site.iso'), 'not really an ISO');
  service = await startService({
    stateDir,
    mediaDir,
    host: '127.0.0.1',
    port: 0,
    driver: gatedDriver(redfishDriver({ retry: { attempts: 2, delayMs: 50 }, timeoutMs: 5000 })),
    timing: { backoffBaseMs: 200, backoffMaxMs: 1000 },
    log: () => {},
  });
  api = clientFor(service.url, stateDir);
  await api.request('POST', '/hosts', {
    hosts: [
      ...[...PROFILES, 'slow', 'clean'].map((vendor) => ({
        ...entry(vendor, vendor),
        // Its deprovisioning is about the PATCH eject; cleaning is covered by 'clean' below.
        ...(vendor === 'patch-no-allow' && { automatedCleaningMode: 'disabled' }),
      })),
      { ...entry('noclean', 'noclean'), automatedCleaningMode: 'disabled' },
      { ...entry('continuous-nocb', 'continuous-nocb'), automatedCleaningMode: 'disabled' },
    ],
  });
});
afterAll(async () => {
  releaseInspection();
  await service?.close();
  for (const lab of labs.values()) await lab.close();
  tmp.cleanup();
});

function entry(name: string, vendor: string, address = labs.get(vendor)!.hosts[0]!.bmcAddress) {
  const h = labs.get(vendor)!.hosts[0]!;
  // No boot MAC: every lab's host-1 has the same one, and an inventory may not repeat it.
  return { name, bmc: { address, username: h.username, password: h.password } };
}

const host = (name: string) => api.request<HostView>('GET', `/hosts/${name}`);
const events = async (name: string) =>
  (
    await api.request<{ events: { level: string; reason: string; message: string }[] }>(
      'GET',
      `/hosts/${name}/events`,
    )
  ).events;

async function waitFor2(name: string, done: (h: HostView) => boolean, what: string): Promise<HostView> {
  return waitFor(
    `${name} ${what}`,
    async () => {
      const h = await host(name);
      return done(h) ? h : undefined;
    },
    { timeoutMs: 30_000, describe: async () => summary(await listHosts(api)) },
  );
}
const stable = (state: string) => (h: HostView) => h.state === state && !h.step;

function cli(...args: string[]) {
  return execa(
    process.execPath,
    [OUTPOST, 'hosts', ...args, '--server', service.url, '--token-file', path.join(stateDir, 'api-token')],
    { reject: false },
  );
}

function report(name: string, body: object) {
  const config = JSON.parse(readFileSync(path.join(stateDir, 'host-config', `${name}.json`), 'utf8')) as {
    callbackUrl: string;
    callbackToken: string;
  };
  return fetch(config.callbackUrl, {
    method: 'POST',
    headers: { Authorization: `Bearer ${config.callbackToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('service against BMCs that differ from the happy path (lab behaviour profiles)', () => {
  it('sparse-inventory: becomes available; missing collections are unknown, warned about, shown as unknown', async () => {
    const h = await waitFor2('sparse-inventory', stable('available'), 'to be available');
    expect(h.error).toBeUndefined();
    expect(h.hardware?.unknown).toEqual(['cpu', 'ramMebibytes', 'storage']);
    const warnings = (await events('sparse-inventory')).filter((e) => e.level === 'Warning');
    expect(warnings.map((e) => e.reason)).toEqual(Array(4).fill('InspectionIncomplete'));
    expect(warnings.map((e) => e.message).join('\n')).toMatch(
      /Memory .* could not be read, recorded as unknown/,
    );
    const described = await cli('describe', 'sparse-inventory');
    expect(described.exitCode).toBe(0);
    expect(described.stdout).toMatch(/CPU: +unknown/);
    expect(described.stdout).toMatch(/Memory: +unknown/);
    expect(described.stdout).toMatch(/Disks: +unknown/);
    expect(described.stdout).not.toMatch(/0 MiB|0 x/);
  });

  it('failing-inventory: a Storage 404 and a Memory that keeps answering 500 are warnings, not an inspection error', async () => {
    const h = await waitFor2('failing-inventory', stable('available'), 'to be available');
    expect(h.error).toBeUndefined();
    expect(h.hardware?.unknown).toEqual(['ramMebibytes']);
    const warnings = (await events('failing-inventory')).filter((e) => e.level === 'Warning');
    // The 500 is retried first (a Retrying warning), then given up on.
    expect(warnings.some((e) => e.reason === 'Retrying')).toBe(true);
    const incomplete = warnings.filter((e) => e.reason === 'InspectionIncomplete');
    expect(incomplete).toHaveLength(2);
    const text = incomplete.map((e) => e.message).join('\n');
    expect(text).toMatch(/Storage .* could not be read, recorded as unknown: .*HTTP 404/);
    expect(text).toMatch(/Memory .* could not be read, recorded as unknown: .*HTTP 500/);
    const described = await cli('describe', 'failing-inventory');
    expect(described.stdout).toMatch(/Memory: +unknown/);
    expect(described.stdout).not.toMatch(/Disks: +unknown/);
  });

  it('multi-socket: counts the present CPU only', async () => {
    const h = await waitFor2('multi-socket', stable('available'), 'to be available');
    expect(h.hardware?.cpu?.count).toBe(16);
    expect((await cli('describe', 'multi-socket')).stdout).toMatch(
      /CPU: +16 x Multi-Core Intel\(R\) Xeon\(R\) processor 7xxx Series 3700 MHz x86_64/,
    );
  });

  for (const vendor of ['boot-continuous', 'boot-once-refused'] as const) {
    it(`${vendor}: provisions with a Continuous CD override, then sets the disk back after the installer`, async () => {
      await waitFor2(vendor, stable('available'), 'to be available');
      await api.request('POST', `/hosts/${vendor}/provision`, { image: 'site.iso', callbacks: true });
      await waitFor2(vendor, (h) => h.step === 'installer', 'to wait for the installer');
      const lab = labs.get(vendor)!;
      expect(lab.status('host-1').bootOverride).toMatchObject({ enabled: 'Continuous', target: 'Cd' });
      expect((await report(vendor, { phase: 'installer', status: 'succeeded' })).status).toBe(200);
      await waitFor2(vendor, (h) => h.step === 'first-boot', 'to wait for first boot');
      // The service powered it off, made the disk the boot device, and powered it on: the disk booted.
      expect(lab.status('host-1').boots.map((b) => b.device)).toEqual(['cd', 'disk']);
      expect(lab.status('host-1').bootOverride).toMatchObject({ enabled: 'Continuous', target: 'Hdd' });
      expect((await report(vendor, { phase: 'first-boot', status: 'succeeded' })).status).toBe(200);
      await waitFor2(vendor, stable('provisioned'), 'to be provisioned');
      const warnings = (await events(vendor)).filter((e) => e.reason === 'BootOverrideChanged');
      expect(warnings.map((e) => e.level)).toEqual(['Warning', 'Warning']);
      expect(warnings.map((e) => e.message).join('\n')).toMatch(/set the boot device back to the disk/);
    });
  }

  it('no callbacks on a BMC that keeps only Continuous: a permanent error at boot-once, nothing booted', async () => {
    await waitFor2('continuous-nocb', stable('available'), 'to be available');
    await api.request('POST', '/hosts/continuous-nocb/provision', { image: 'site.iso', callbacks: false });
    const h = await waitFor2('continuous-nocb', (x) => x.error !== undefined, 'to have an error');
    expect(h).toMatchObject({ state: 'provisioning', step: 'boot-once' });
    expect(h.error).toMatchObject({ permanent: true });
    expect(h.error!.message).toMatch(
      /does not keep a one-time boot override .*provision with an image that calls back/,
    );
    // boot-disk would have powered the host off in the middle of its installer: it never got that far.
    expect(labs.get('continuous-nocb')!.status('host-1').boots).toEqual([]);
  });

  it('patch-no-allow: inserts and ejects with PATCH on slots without actions or Allow header', async () => {
    await waitFor2('patch-no-allow', stable('available'), 'to be available');
    await api.request('POST', '/hosts/patch-no-allow/provision', { image: 'site.iso', callbacks: true });
    await waitFor2('patch-no-allow', (h) => h.step === 'installer', 'to wait for the installer');
    const lab = labs.get('patch-no-allow')!;
    expect(lab.status('host-1').boots.map((b) => b.device)).toEqual(['cd']);
    await api.request('POST', '/hosts/patch-no-allow/deprovision');
    await waitFor2('patch-no-allow', stable('available'), 'to be available again');
    expect(lab.status('host-1').media.every((m) => !m.inserted)).toBe(true);
  });

  it('a host stuck in deprovisioning is refused a plain delete and removed with --force, saying what is left', async () => {
    await waitFor2('generic', stable('available'), 'to be available');
    await api.request('POST', '/hosts/generic/provision', { image: 'site.iso', callbacks: true });
    await waitFor2('generic', (h) => h.step === 'installer', 'to wait for the installer');
    await api.request('POST', '/hosts/generic/deprovision');
    await waitFor2(
      'generic',
      (h) => h.state === 'deprovisioning' && h.error !== undefined,
      'to fail its eject',
    );
    const plain = await cli('delete', 'generic');
    expect(plain.exitCode).toBe(2);
    expect(plain.stderr).toMatch(/is deprovisioning; deprovision it first, or delete it with --force/);
    const forced = await cli('delete', 'generic', '--force');
    expect(forced.exitCode).toBe(0);
    expect(forced.stdout).toMatch(/host\/generic deleted/);
    expect(forced.stdout).toMatch(/left on its BMC and server:\n {2}- power state as it is/);
    expect(forced.stdout).toMatch(/virtual media http:\/\/.*\/media\/site\.iso possibly still inserted/);
    expect((await listHosts(api)).map((h) => h.name)).not.toContain('generic');
    // Its per-host config (with the callback token's plaintext) went with it.
    expect(existsSync(path.join(stateDir, 'host-config', 'generic.json'))).toBe(false);
  });

  it('refuses to inspect a host that is inspecting: exit 2, clear message, attempt count kept', async () => {
    await waitFor2('slow', (h) => h.state === 'inspecting', 'to be inspecting');
    const again = await cli('inspect', 'slow');
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/host slow is already being inspected; wait for it to finish/);
    const { timeline } = await api.request<{ timeline: { state: string }[] }>('GET', '/hosts/slow/timeline');
    expect(timeline.filter((p) => p.state === 'inspecting')).toHaveLength(1);
    releaseInspection();
    await waitFor2('slow', stable('available'), 'to be available');
  });

  it('records what a re-import changed (a new BMC address registers again)', async () => {
    const address = labs.get('multi-socket')!.hosts[0]!.bmcAddress;
    await waitFor2('multi-socket', stable('available'), 'to be available');
    const newAddress = address.replace(/\/redfish\/v1\/Systems\/.*$/, '');
    await api.request('POST', '/hosts', { hosts: [entry('multi-socket', 'multi-socket', newAddress)] });
    const updated = (await events('multi-socket')).filter((e) => e.reason === 'Updated');
    expect(updated.at(-1)?.message).toBe(
      `re-imported: BMC address ${address} -> ${newAddress}; registering again`,
    );
    await waitFor2('multi-socket', stable('available'), 'to be available after the re-import');
  });

  it('cleans on deprovision: boots the installer in wipe mode, waits for its report, then is available', async () => {
    await waitFor2('clean', stable('available'), 'to be available');
    await api.request('POST', '/hosts/clean/provision', { image: 'site.iso', callbacks: true });
    await waitFor2('clean', (h) => h.step === 'installer', 'to wait for the installer');
    await api.request('POST', '/hosts/clean/deprovision');
    await waitFor2('clean', (h) => h.step === 'cleaning', 'to wait for the cleaning report');
    const lab = labs.get('clean')!;
    const boots = lab.status('host-1').boots;
    expect(boots.map((b) => b.device)).toEqual(['cd', 'cd']);
    expect(boots[1]!.image).toMatch(new RegExp(`^${service.url}/media/hosts/[0-9a-f]{32}\\.iso$`));
    // The BMC can fetch the cleaning ISO: a real ISO 9660 image.
    const iso = Buffer.from(await (await fetch(boots[1]!.image!)).arrayBuffer());
    expect(iso.subarray(0x8001, 0x8006).toString()).toBe('CD001');
    expect(
      (await report('clean', { phase: 'clean', status: 'running', message: 'wiping /dev/vda' })).status,
    ).toBe(200);
    expect((await report('clean', { phase: 'clean', status: 'done', progress: 100 })).status).toBe(200);
    await waitFor2('clean', stable('available'), 'to be available after cleaning');
    expect(lab.status('host-1').power).toBe('Off');
    expect(lab.status('host-1').media.every((m) => !m.inserted)).toBe(true);
    expect((await fetch(boots[1]!.image!)).status).toBe(404);
    const { timeline } = await api.request<{
      timeline: { state: string; steps: { step: string; result: string }[] }[];
    }>('GET', '/hosts/clean/timeline');
    expect(timeline.at(-1)!.steps.map((x) => `${x.step}:${x.result}`)).toEqual([
      'power-off:succeeded',
      'eject-media:succeeded',
      'prepare-cleaning:succeeded',
      'insert-cleaning-media:succeeded',
      'boot-cleaning:succeeded',
      'power-on-cleaning:succeeded',
      'cleaning:succeeded',
      'power-off-cleaned:succeeded',
      'eject-cleaning-media:succeeded',
    ]);
    // The cleaning token is revoked with the eject.
    expect((await report('clean', { phase: 'clean', status: 'done' })).status).toBe(401);
  });

  it('skips cleaning for automatedCleaningMode: disabled', async () => {
    await waitFor2('noclean', stable('available'), 'to be available');
    await api.request('POST', '/hosts/noclean/provision', { image: 'site.iso', callbacks: true });
    await waitFor2('noclean', (h) => h.step === 'installer', 'to wait for the installer');
    await api.request('POST', '/hosts/noclean/deprovision');
    await waitFor2('noclean', stable('available'), 'to be available');
    expect(
      labs
        .get('noclean')!
        .status('host-1')
        .boots.map((b) => b.device),
    ).toEqual(['cd']);
    const { timeline } = await api.request<{
      timeline: { state: string; steps: { step: string; message?: string }[] }[];
    }>('GET', '/hosts/noclean/timeline');
    const steps = timeline.at(-1)!.steps;
    expect(steps.filter((x) => x.message === 'skipped: automatedCleaningMode is disabled')).toHaveLength(7);
  });
});
