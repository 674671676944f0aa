import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../../src/lab/index.ts';
import { FLOWS } from '../../src/service/lifecycle.ts';
import { Store } from '../../src/service/store.ts';
import {
  clientFor,
  freePort,
  inventoryOf,
  listHosts,
  ServiceProcess,
  summary,
  tempDir,
  waitFor,
} from './helpers.ts';

const tmp = tempDir('crash');
const stateDir = path.join(tmp.dir, 'state');
const mediaDir = path.join(tmp.dir, 'media');
let lab: Lab;
let service: ServiceProcess;

beforeAll(async () => {
  mkdirSync(mediaDir);
  writeFileSync(path.join(mediaDir, 'site.iso'), 'installer');
  lab = await startLab({ hosts: 3, backend: 'fake', stateDir: path.join(tmp.dir, 'lab') });
  service = new ServiceProcess({
    stateDir,
    mediaDir,
    port: await freePort(),
    extraArgs: ['--backoff-base', '0.2'],
  });
});
afterAll(async () => {
  await service?.kill();
  await lab?.close();
  tmp.cleanup();
});

/** A small seeded generator, so a failing run can be replayed with the printed seed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('crash safety', () => {
  it('SIGKILLed at random points while 3 hosts provision: all finish, none provisioned twice, nothing lost', async () => {
    const seed = Number(process.env.OUTPOST_CRASH_SEED ?? Date.now() % 100_000);
    const rand = random(seed);
    const kills: string[] = [];
    const deadline = Date.now() + 90_000;

    await service.start();
    const api = clientFor(service.url, stateDir);
    const killAndRestart = async (label: string) => {
      await service.kill('SIGKILL');
      kills.push(label);
      await service.start();
    };
    // Registration and inspection are interrupted too.
    await api.request('POST', '/hosts', inventoryOf(lab));
    for (let k = 0; k < 2; k++) {
      await sleep(rand() * 150);
      await killAndRestart(`during registration: ${summary(await listHosts(api))}`);
    }
    await waitFor(
      '3 hosts available',
      async () => (await listHosts(api)).every((h) => h.state === 'available') || undefined,
      {
        describe: async () => summary(await listHosts(api)),
      },
    );

    /** The host side: callbacks are resent until the service answers, as the installer does. */
    const post = async (name: string, body: object) => {
      const config = JSON.parse(readFileSync(path.join(stateDir, 'host-config', `${name}.json`), 'utf8'));
      while (Date.now() < deadline) {
        try {
          const r = await fetch(config.callbackUrl, {
            method: 'POST',
            headers: { Authorization: `Bearer ${config.callbackToken}` },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(5000),
          });
          if (r.status === 200) return;
          throw new Error(
            `callback ${JSON.stringify(body)} for ${name} answered ${r.status}: ${await r.text()}`,
          );
        } catch (error) {
          if (error instanceof Error && error.message.startsWith('callback')) throw error;
          await sleep(50); // service down: retry
        }
      }
      throw new Error(`callback for ${name} not accepted before the deadline`);
    };
    const installers: Promise<void>[] = [];
    lab.onBoot((host, boot) => {
      if (boot.device !== 'cd') return;
      installers.push(
        (async () => {
          await sleep(rand() * 800);
          await post(host.name, { phase: 'installer', status: 'running', progress: 30 });
          await sleep(rand() * 800);
          await post(host.name, { phase: 'installer', status: 'succeeded' });
          lab.guestReboot(host.name);
          await sleep(rand() * 800);
          await post(host.name, { phase: 'first-boot', status: 'succeeded' });
        })(),
      );
    });

    for (const h of lab.hosts)
      await api.request('POST', `/hosts/${h.name}/provision`, { image: 'site.iso', callbacks: true });
    // Kill soon after each restart: the reconciler resumes at once, so BMC steps are often in flight.
    let midProvisioning = 0;
    while (kills.length < 14) {
      await sleep(rand() * 250);
      const hosts = await listHosts(api);
      if (hosts.every((h) => h.state === 'provisioned')) break;
      midProvisioning++;
      await killAndRestart(`during provisioning: ${summary(hosts)}`);
    }

    const final = await waitFor(
      'all 3 hosts provisioned',
      async () => {
        const hosts = await listHosts(api);
        return hosts.every((h) => h.state === 'provisioned') ? hosts : undefined;
      },
      { timeoutMs: 60_000, describe: async () => `${summary(await listHosts(api))} (seed ${seed})` },
    );
    await Promise.all(installers);
    const context = `seed ${seed}; kills:\n${kills.join('\n')}`;
    process.stdout.write(`crash test: ${context}\n`);
    expect(
      final.map((h) => h.name),
      context,
    ).toEqual(['host-1', 'host-2', 'host-3']);
    expect(midProvisioning, context).toBeGreaterThanOrEqual(3);

    await service.kill('SIGTERM');
    const store = new Store(path.join(stateDir, 'outpost.db'));
    try {
      for (const h of lab.hosts) {
        // The lab saw exactly one boot from the installer CD per host.
        expect(
          lab.status(h.name).boots.filter((b) => b.device === 'cd').length,
          `${h.name}; ${context}`,
        ).toBe(1);
        const ops = store.operations(h.name);
        const phases = ops.filter((o) => o.step === '').map((o) => `${o.state}:${o.result}`);
        expect(phases, `${h.name}; ${context}`).toEqual([
          'registering:succeeded',
          'inspecting:succeeded',
          'provisioning:succeeded',
        ]);
        const steps = ops.filter((o) => o.state === 'provisioning' && o.step !== '').map((o) => o.step);
        // Each step exactly once, in the flow's order (store.test.ts pins the flow itself).
        expect(steps, `${h.name}; ${context}`).toEqual(FLOWS.provisioning);
        const reasons = store.events({ host: h.name }).map((e) => e.reason);
        expect(reasons).toEqual(
          expect.arrayContaining(['Registered', 'Available', 'ProvisioningStarted', 'Provisioned']),
        );
        expect(reasons.filter((r) => r === 'ProvisioningStarted')).toHaveLength(1);
      }
    } finally {
      store.close();
    }
  }, 180_000);
});
