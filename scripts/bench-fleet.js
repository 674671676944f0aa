#!/usr/bin/env node
// Fleet benchmark: registers, inspects and provisions N fake-backend hosts (default 500) through a real
// `outpost serve` child process and the lab's emulated BMCs over loopback, with the installer and first-boot
// callbacks simulated. Prints wall time per phase and the service's peak RSS (VmHWM), against a baseline
// measured in the same run: the same service idle with no hosts.
// Usage: npm run bench:fleet [-- --hosts N --concurrency N]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { hosts: { type: 'string', default: '500' }, concurrency: { type: 'string', default: '32' } },
});
const hostCount = Number(values.hosts);
const repo = path.resolve(import.meta.dirname, '..');
const { startLab } = await import(path.join(repo, 'src/lab/index.ts'));
const { ServiceClient } = await import(path.join(repo, 'src/service/client.ts'));

const dir = mkdtempSync(path.join(tmpdir(), 'outpost-bench-fleet-'));
const stateDir = path.join(dir, 'state');
const mediaDir = path.join(dir, 'media');
mkdirSync(mediaDir);
writeFileSync(path.join(mediaDir, 'site.iso'), 'installer');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const memory = (pid) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { hwmMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
};

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const [done, seen] = await probe();
    if (done) return;
    last = seen;
    await sleep(500);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; last seen: ${last}`);
}

const lab = await startLab({ hosts: hostCount, backend: 'fake', stateDir: path.join(dir, 'lab') });
const port = await freePort();
const child = spawn(
  process.execPath,
  [
    path.join(repo, 'bin/outpost.js'),
    'serve',
    '--state-dir',
    stateDir,
    '--media-dir',
    mediaDir,
    '--listen',
    `127.0.0.1:${port}`,
    '--concurrency',
    values.concurrency,
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const url = `http://127.0.0.1:${port}`;
try {
  await waitFor(
    'the service to listen',
    async () => [
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
      'not listening',
    ],
    30_000,
  );
  await sleep(2000);
  const idle = memory(child.pid);
  const api = new ServiceClient(url, readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim());
  const countStates = async () => {
    const { hosts } = await api.request('GET', '/hosts');
    const counts = {};
    for (const h of hosts) {
      const key = h.error ? `${h.state}(error)` : h.state;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };
  const all = (state) => async () => {
    const counts = await countStates();
    return [counts[state] === hostCount, JSON.stringify(counts)];
  };

  // Simulated installers: each host that boots from the CD reports progress, reboots, reports first boot.
  const post = async (name, body, config) => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = await fetch(config.callbackUrl, {
        method: 'POST',
        headers: { Authorization: `Bearer ${config.callbackToken}` },
        body: JSON.stringify(body),
      }).catch(() => undefined);
      if (r?.status === 200) return;
      await sleep(200);
    }
    throw new Error(`callback for ${name} was not accepted`);
  };
  const installers = [];
  lab.onBoot((host, boot) => {
    if (boot.device !== 'cd') return;
    const config = JSON.parse(readFileSync(path.join(stateDir, 'host-config', `${host.name}.json`), 'utf8'));
    installers.push(
      (async () => {
        await post(host.name, { phase: 'installer', status: 'running', progress: 50 }, config);
        await post(host.name, { phase: 'installer', status: 'succeeded' }, config);
        lab.guestReboot(host.name);
        await post(host.name, { phase: 'first-boot', status: 'succeeded' }, config);
      })(),
    );
  });

  const t0 = performance.now();
  await api.request('POST', '/hosts', {
    hosts: lab.hosts.map((h) => ({
      name: h.name,
      bmc: { address: h.bmcAddress, username: h.username, password: h.password },
      bootMACAddress: h.bootMac,
    })),
  });
  await waitFor('all hosts available', all('available'), 15 * 60_000);
  const t1 = performance.now();
  for (let i = 0; i < lab.hosts.length; i += 50) {
    await Promise.all(
      lab.hosts
        .slice(i, i + 50)
        // The benchmark plays the ISO's callbacks itself: it says so with callbacks: true.
        .map((h) =>
          api.request('POST', `/hosts/${h.name}/provision`, { image: 'site.iso', callbacks: true }),
        ),
    );
  }
  await waitFor('all hosts provisioned', all('provisioned'), 20 * 60_000);
  await Promise.all(installers);
  const t2 = performance.now();
  const peak = memory(child.pid);

  const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
  process.stdout.write(
    [
      `fleet benchmark: ${hostCount} fake-backend hosts, service concurrency ${values.concurrency}`,
      `  register + inspect:       ${s(t1 - t0)}  (${((t1 - t0) / hostCount).toFixed(1)} ms/host)`,
      `  provision + callbacks:    ${s(t2 - t1)}  (${((t2 - t1) / hostCount).toFixed(1)} ms/host)`,
      `  total wall time:          ${s(t2 - t0)}`,
      `  service peak RSS (VmHWM): ${peak.hwmMiB.toFixed(1)} MiB`,
      `  baseline, idle service:   ${idle.hwmMiB.toFixed(1)} MiB (VmHWM with no hosts, same run)`,
      `  ratio peak / baseline:    ${(peak.hwmMiB / idle.hwmMiB).toFixed(2)}`,
      '',
    ].join('\n'),
  );
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
  await lab.close();
  rmSync(dir, { recursive: true, force: true });
}
