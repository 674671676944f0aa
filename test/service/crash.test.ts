import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/index.ts';
import { FLOWS } from '../../src/service/lifecycle.ts';
import { Store } from '../../src/service/store.ts';
import {
  clientFor,
  fakeSite,
  inventoryOf,
  listHosts,
  postCallback,
  type ServiceProcess,
  summary,
  waitFor,
} from './helpers.ts';

const site = fakeSite('crash', {
  hosts: 3,
  media: { 'site.iso': 'installer' },
  serviceArgs: ['--backoff-base', '0.2'],
});
const { stateDir } = site;
let lab: Lab;
let service: ServiceProcess;

beforeAll(async () => {
  ({ lab, service } = await site.start());
});
afterAll(() => site.close());

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
    const post = (name: string, body: object) =>
      postCallback(stateDir, name, body, { deadline, requestTimeoutMs: 5000, retryMs: 50 });
    const installers: Promise<void>[] = [];
    // Kills during provisioning; the installers do not finish before three of them (on a busy machine
    // a restart can take longer than a whole installation would).
    let midProvisioning = 0;
    lab.onBoot((host, boot) => {
      if (boot.device !== 'cd') return;
      installers.push(
        (async () => {
          await sleep(rand() * 800);
          await post(host.name, { phase: 'installer', status: 'running', progress: 30 });
          await sleep(rand() * 800);
          while (midProvisioning < 3 && Date.now() < deadline) await sleep(50);
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
