#!/usr/bin/env node
// `npm run bench:console`: the operator console in Debian's Chromium with 1,000 hosts, next to the same page
// with 10 hosts in the same run. Hosts are written straight into a real store (SQLite on disk) — the fast
// honest way to have 1,000 inspected hosts without 1,000 BMCs — and served by the real console code (session,
// Server-Sent Events, Preact page). Measured in the browser: first render (navigation until every row is in
// the table) and an update burst (every host changes state in one transaction, until every row shows it).
// Prints medians of a few runs and the ratios 1,000 / 10. Target: first render under 1 s with 1,000 hosts.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { mountConsole } from '../src/console/index.ts';
import { Store } from '../src/service/store.ts';

const RUNS = 5;
const SIZES = [10, 1000];
const TOKEN = 'bench-token-0123456789abcdefghijklmnopqrstuvwxyz';
const VENDORS = ['Dell Inc.', 'HPE', 'Supermicro', 'Lenovo'];

function hostRecord(i, now) {
  const name = `node-${String(i).padStart(4, '0')}`;
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    name,
    spec: {
      name,
      bmc: {
        address: `redfish-virtualmedia+https://10.0.${i >> 8}.${i & 255}/redfish/v1/Systems/1`,
        disableCertificateVerification: true,
      },
      role: i % 10 === 0 ? 'server' : 'agent',
      online: true,
      labels: { rack: `r${i % 20}` },
    },
    state: 'available',
    step: '',
    stepStartedAt: now,
    powerState: 'Off',
    hardware: {
      systemVendor: {
        manufacturer: VENDORS[i % VENDORS.length],
        productName: 'Server',
        serialNumber: `SN${i}`,
      },
      cpu: { count: 2, model: 'Xeon', arch: 'x86_64' },
      ramMebibytes: 262144,
      nics: [
        {
          name: 'NIC.1',
          mac: `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        },
      ],
    },
    createdAt: now - i * 1000,
    updatedAt: now,
  };
}

async function site(count, dir) {
  const stateDir = path.join(dir, `state-${count}`);
  const mediaDir = path.join(dir, 'media');
  mkdirSync(stateDir, { recursive: true });
  mkdirSync(mediaDir, { recursive: true });
  const store = new Store(path.join(stateDir, 'outpost.db'));
  const now = Date.now();
  const hosts = Array.from({ length: count }, (_, i) => hostRecord(i + 1, now));
  store.transaction(() => {
    for (const h of hosts) store.putHost(h);
  });
  const api = (_req, res) => {
    res.writeHead(404);
    res.end();
  };
  const mounted = mountConsole(api, { apiToken: TOKEN, store, mediaDir });
  const server = createServer(mounted.handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    store,
    hosts,
    async close() {
      mounted.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      store.close();
    },
  };
}

/** Milliseconds from navigation start until the table has every row (measured by the page's clock). */
async function firstRender(page, url, count) {
  await page.goto(url, { waitUntil: 'commit' });
  const rendered = await page
    .waitForFunction(
      (n) => document.querySelectorAll('tbody tr[data-host]').length === n && performance.now(),
      count,
      { polling: 'raf', timeout: 60_000 },
    )
    .then((handle) => handle.jsonValue());
  // The page marks when the host snapshot arrived: before it is loading, after it is rendering.
  const snapshot = await page.evaluate(() => performance.getEntriesByName('outpost:snapshot')[0]?.startTime);
  return { total: rendered, load: snapshot, render: rendered - snapshot };
}

/** Every host changes state in one transaction; milliseconds until every row shows the new state. */
async function updateBurst(page, s, run) {
  const state = run % 2 === 0 ? 'provisioning' : 'available';
  const started = await page.evaluate(() => performance.now());
  const now = Date.now();
  s.store.transaction(() => {
    for (const h of s.hosts) {
      s.store.putHost(
        state === 'provisioning'
          ? { ...h, state, step: 'installer', installProgress: 40 + run, stepStartedAt: now, updatedAt: now }
          : { ...h, updatedAt: now },
      );
    }
  });
  const done = await page
    .waitForFunction(
      ({ n, wanted }) =>
        document.querySelectorAll(`tbody tr[data-state="${wanted}"]`).length === n && performance.now(),
      { n: s.hosts.length, wanted: state },
      { polling: 'raf', timeout: 60_000 },
    )
    .then((handle) => handle.jsonValue());
  return done - started;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const dir = mkdtempSync(path.join(tmpdir(), 'outpost-bench-console-'));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
const version = browser.version();
const results = {};
try {
  for (const count of SIZES) {
    const s = await site(count, dir);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const login = await page.request.post(`${s.url}/console/session`, {
      data: { token: TOKEN },
      headers: { Origin: s.url },
    });
    if (!login.ok()) throw new Error(`sign-in failed: ${login.status()}`);
    const renders = [];
    const bursts = [];
    for (let run = 0; run < RUNS; run++) {
      renders.push(await firstRender(page, s.url, count));
      bursts.push(await updateBurst(page, s, run));
    }
    results[count] = {
      render: median(renders.map((r) => r.total)),
      load: median(renders.map((r) => r.load)),
      paint: median(renders.map((r) => r.render)),
      burst: median(bursts),
      renders: renders.map((r) => r.total),
      bursts,
    };
    await context.close();
    await s.close();
  }
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}

const ms = (v) => `${v.toFixed(0)} ms`;
const [small, large] = SIZES;
console.log(`console in Chromium ${version}, median of ${RUNS} runs`);
for (const count of SIZES) {
  const r = results[count];
  console.log(
    `  ${String(count).padStart(5)} hosts: first render ${ms(r.render).padStart(7)} (page and data ${ms(r.load)}, table ${ms(r.paint)})` +
      `  update burst ${ms(r.burst).padStart(7)}` +
      `   (runs: ${r.renders.map((v) => v.toFixed(0)).join(' ')} / ${r.bursts.map((v) => v.toFixed(0)).join(' ')})`,
  );
}
console.log(
  `  ratio ${large}/${small}: first render ${(results[large].render / results[small].render).toFixed(2)}, update burst ${(results[large].burst / results[small].burst).toFixed(2)}`,
);
console.log(
  `  target: first render with ${large} hosts under 1 s: ${results[large].render < 1000 ? 'met' : 'NOT met'} (${ms(results[large].render)})`,
);
