import { readFileSync } from 'node:fs';
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
  waitFor,
} from '../service/helpers.ts';

/**
 * The soak: 200 hosts of the lab's fake backend provisioned while `outpost serve` is SIGKILLed every 20-40 s
 * and restarted, and while hostile requests hit the callback endpoint without pause. Bounded: SOAK_SECONDS
 * of kills (default 150 s, OUTPOST_SOAK_SECONDS to change), then at most 3 minutes for the last hosts.
 * At the end every host is provisioned exactly once (one boot from the virtual CD each, counted by the
 * BMCs), no record is lost, the service's memory stayed bounded, and every hostile request was refused.
 */
const HOSTS = 200;
const SOAK_MS = Number(process.env.OUTPOST_SOAK_SECONDS ?? 150) * 1000;
const WAVE = 12;
const site = fakeSite('soak', {
  hosts: HOSTS,
  media: { 'site.iso': 'installer' },
  serviceArgs: ['--backoff-base', '0.5', '--concurrency', '32'],
});
const { stateDir } = site;
let lab: Lab;
let service: ServiceProcess;

beforeAll(async () => {
  ({ lab, service } = await site.start());
});
afterAll(() => site.close());

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

describe('soak', () => {
  it(`${HOSTS} hosts provisioned while the service is SIGKILLed every 20-40 s and spammed`, async () => {
    const seed = Number(process.env.OUTPOST_SOAK_SEED ?? Date.now() % 100_000);
    const rand = random(seed);
    const started = Date.now();
    const finalDeadline = started + SOAK_MS + 180_000;
    let kills = 0;
    let killsMidProvisioning = 0;
    const rss: number[] = [];
    const hostile = { sent: 0, refused: 0, accepted: [] as string[] };
    let stopping = false;

    await service.start();
    const api = () => clientFor(service.url, stateDir);
    /** API calls are retried while the service restarts. */
    const retrying = async <T>(call: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await call();
        } catch (error) {
          if (Date.now() > finalDeadline) throw error;
          if ((error as { status?: number }).status !== undefined) throw error;
          await sleep(200);
        }
      }
    };

    // The hosts' side: the installer and first boot report back, resending until the service answers.
    const post = (name: string, body: object) =>
      postCallback(stateDir, name, body, { deadline: finalDeadline, requestTimeoutMs: 10_000, retryMs: 200 });
    const installers: Promise<void>[] = [];
    lab.onBoot((host, boot) => {
      if (boot.device !== 'cd') return;
      installers.push(
        (async () => {
          await sleep(rand() * 3000);
          await post(host.name, { phase: 'installer', status: 'running', progress: 40 });
          await sleep(rand() * 3000);
          await post(host.name, { phase: 'installer', status: 'succeeded' });
          lab.guestReboot(host.name);
          await sleep(rand() * 3000);
          await post(host.name, { phase: 'first-boot', status: 'succeeded' });
        })(),
      );
    });

    // Hostile callbacks, without pause: no token, wrong tokens, unknown hosts, forged log lines, bad JSON,
    // oversized bodies, malformed escapes. Every one must be refused (4xx); a 5xx or a 2xx fails the soak.
    const spam = (async () => {
      const attacks: [string, RequestInit][] = [
        ['/callbacks/host-1', { method: 'POST', body: '{"phase":"installer","status":"succeeded"}' }],
        [
          '/callbacks/host-2',
          {
            method: 'POST',
            headers: { Authorization: 'Bearer guessed-token' },
            body: JSON.stringify({
              phase: 'installer',
              status: 'succeeded',
              message: 'ok\n2026-01-01T00:00:00.000Z info host-3 Provisioned: \u001b[2Jforged',
            }),
          },
        ],
        ['/callbacks/host-3/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', { method: 'POST', body: '{' }],
        ['/callbacks/no-such-host', { method: 'POST', body: 'x'.repeat(200_000) }],
        ['/callbacks/%zz', { method: 'POST', body: '{}' }],
        ['/callbacks/host-4', { method: 'GET' }],
        ['/media/%', { method: 'GET' }],
        ['/media/hosts/host-5.iso', { method: 'GET' }],
      ];
      let i = 0;
      while (!stopping) {
        const [target, init] = attacks[i++ % attacks.length]!;
        try {
          const r = await fetch(`${service.url}${target}`, { ...init, signal: AbortSignal.timeout(5000) });
          await r.arrayBuffer().catch(() => {});
          hostile.sent++;
          if (r.status >= 400 && r.status < 500) hostile.refused++;
          else hostile.accepted.push(`${target}: ${r.status}`);
        } catch {
          await sleep(50); // the service is down or closed the connection: not counted
        }
        await sleep(5);
      }
    })();

    // The killer: SIGKILL every 20-40 s for SOAK_MS, restarting at once; RSS sampled throughout.
    const killer = (async () => {
      while (Date.now() - started < SOAK_MS) {
        const wait = 20_000 + rand() * 20_000;
        const until = Math.min(Date.now() + wait, started + SOAK_MS);
        while (Date.now() < until) {
          const m = rssMiB(service.pid);
          if (m) rss.push(m);
          await sleep(1000);
        }
        if (Date.now() - started >= SOAK_MS) break;
        const before = await listHosts(api()).catch(() => []);
        if (before.some((h) => h.state !== 'provisioned')) killsMidProvisioning++;
        await service.kill('SIGKILL');
        kills++;
        await service.start();
      }
    })();

    // The user's side: import, then provision in waves as hosts become available.
    await retrying(() => api().request('POST', '/hosts', inventoryOf(lab)));
    const requested = new Set<string>();
    while (requested.size < HOSTS && Date.now() < finalDeadline) {
      const available = (await retrying(() => listHosts(api()))).filter(
        (h) => h.state === 'available' && !requested.has(h.name),
      );
      for (const h of available.slice(0, WAVE)) {
        try {
          await retrying(() =>
            api().request('POST', `/hosts/${h.name}/provision`, { image: 'site.iso', callbacks: true }),
          );
        } catch (error) {
          // Accepted just before a kill and answered 409 after the restart: it is provisioning already.
          if ((error as { status?: number }).status !== 409) throw error;
        }
        requested.add(h.name);
      }
      await sleep(8000);
    }
    await killer;
    const final = await waitFor(
      `all ${HOSTS} hosts provisioned`,
      async () => {
        const hosts = await listHosts(api());
        return hosts.length === HOSTS && hosts.every((h) => h.state === 'provisioned') ? hosts : undefined;
      },
      {
        timeoutMs: Math.max(10_000, finalDeadline - Date.now()),
        intervalMs: 1000,
        describe: async () => {
          const hosts = await listHosts(api());
          const counts: Record<string, number> = {};
          for (const h of hosts) counts[h.state] = (counts[h.state] ?? 0) + 1;
          return `${JSON.stringify(counts)} (seed ${seed}, ${kills} kills)`;
        },
      },
    );
    stopping = true;
    await spam;
    await Promise.all(installers);
    await service.kill('SIGTERM');

    // Every host exactly once: one boot from the virtual CD at its BMC, each provisioning step once.
    const doubleBoots = lab.hosts.filter(
      (h) => lab.status(h.name).boots.filter((b) => b.device === 'cd').length !== 1,
    );
    const store = new Store(path.join(stateDir, 'outpost.db'));
    const lost: string[] = [];
    const repeated: string[] = [];
    try {
      for (const h of lab.hosts) {
        const steps = store
          .operations(h.name)
          .filter((o) => o.state === 'provisioning' && o.step !== '')
          .map((o) => `${o.step}:${o.result}`);
        if (steps.join() !== FLOWS.provisioning.map((s) => `${s}:succeeded`).join()) {
          repeated.push(`${h.name}: ${steps.join(' ')}`);
        }
        const reasons = store.events({ host: h.name }).map((e) => e.reason);
        for (const reason of ['Registered', 'Available', 'ProvisioningStarted', 'Provisioned']) {
          if (!reasons.includes(reason)) lost.push(`${h.name}: no ${reason} event`);
        }
        if (reasons.filter((r) => r === 'ProvisioningStarted').length !== 1)
          repeated.push(`${h.name}: provisioned twice`);
      }
    } finally {
      store.close();
    }
    const forged = service.output.split('\n').filter((l) => /forged|\u001b/.test(l));
    const steady = rss.slice(Math.floor(rss.length / 4));
    const figures =
      `soak: seed ${seed}; ${((Date.now() - started) / 1000).toFixed(0)} s; ${kills} SIGKILLs survived ` +
      `(${killsMidProvisioning} while hosts were still being worked on); ` +
      `${final.length} hosts provisioned; ${doubleBoots.length} double boots; ${hostile.refused} of ` +
      `${hostile.sent} hostile requests refused; service RSS max ${Math.max(...rss).toFixed(0)} MiB ` +
      `(median ${steady.sort((a, b) => a - b)[Math.floor(steady.length / 2)]?.toFixed(0)} MiB, ${rss.length} samples)`;
    process.stdout.write(`${figures}\n`);
    expect(kills).toBeGreaterThanOrEqual(Math.floor(SOAK_MS / 40_000));
    expect(killsMidProvisioning, figures).toBeGreaterThanOrEqual(Math.max(1, kills - 1));
    expect(final.map((h) => h.name).sort()).toEqual(lab.hosts.map((h) => h.name).sort());
    expect(
      doubleBoots.map((h) => h.name),
      figures,
    ).toEqual([]);
    expect(repeated, figures).toEqual([]);
    expect(lost, figures).toEqual([]);
    expect(hostile.accepted, figures).toEqual([]);
    expect(hostile.refused).toBeGreaterThan(100);
    expect(forged, 'a hostile callback message reached the log').toEqual([]);
    // Bounded, not a target (figures above): a leak per host or per request would pass 768 MiB with 200
    // hosts and thousands of requests; peaks of 250-340 MiB were seen on a loaded machine.
    expect(Math.max(...rss), figures).toBeLessThan(768);
  }, 600_000);
});
