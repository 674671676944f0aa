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
import { mountConsole } from '../src/service/console/index.ts';
import { Store } from '../src/service/store.ts';

const RUNS = 7;
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
async function firstRender({ page, cpu }, url, count) {
  await page.goto(url, { waitUntil: 'commit' });
  // Read once the new document exists: a navigation may start a new renderer process with a new clock.
  const cpuBefore = await cpu();
  const rendered = await page
    .waitForFunction(
      (n) => document.querySelectorAll('tbody tr[data-host]').length === n && performance.now(),
      count,
      { polling: 'raf', timeout: 60_000 },
    )
    .then((handle) => handle.jsonValue());
  // The page marks when the host snapshot arrived: before it is loading, after it is rendering.
  const snapshot = await page.evaluate(() => performance.getEntriesByName('outpost:snapshot')[0]?.startTime);
  return { total: rendered, load: snapshot, render: rendered - snapshot, cpu: (await cpu()) - cpuBefore };
}

/** Every host changes state in one transaction; milliseconds until every row shows the new state. */
async function updateBurst({ page, cpu }, s, run) {
  const cpuBefore = await cpu();
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
  return { total: done - started, cpu: (await cpu()) - cpuBefore };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const dir = mkdtempSync(path.join(tmpdir(), 'outpost-bench-console-'));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const version = browser.version();
const samples = Object.fromEntries(SIZES.map((n) => [n, { renders: [], bursts: [] }]));
const sites = [];
try {
  const pages = {};
  for (const count of SIZES) {
    const s = await site(count, dir);
    sites.push(s);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const login = await page.request.post(`${s.url}/console/session`, {
      data: { token: TOKEN },
      headers: { Origin: s.url },
    });
    if (!login.ok()) throw new Error(`sign-in failed: ${login.status()}`);
    // CPU time of the page's main thread (Chromium's ThreadTime): what the page costs, whatever the load.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const cpu = async () =>
      (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ThreadTime').value * 1000;
    pages[count] = { s, page, cpu };
  }
  // The sizes alternate within each run, so a change in the machine's load hits both alike.
  for (let run = 0; run < RUNS; run++) {
    for (const count of SIZES) {
      const { s } = pages[count];
      samples[count].renders.push(await firstRender(pages[count], s.url, count));
      samples[count].bursts.push(await updateBurst(pages[count], s, run));
    }
  }
} finally {
  await browser.close();
  for (const s of sites) await s.close();
  rmSync(dir, { recursive: true, force: true });
}

const ms = (v) => `${v.toFixed(0)} ms`;
const summary = (values) => ({ median: median(values), min: Math.min(...values) });
const results = Object.fromEntries(
  SIZES.map((n) => {
    const { renders, bursts } = samples[n];
    return [
      n,
      {
        render: summary(renders.map((r) => r.total)),
        load: median(renders.map((r) => r.load)),
        table: median(renders.map((r) => r.render)),
        renderCpu: median(renders.map((r) => r.cpu)),
        burst: summary(bursts.map((b) => b.total)),
        burstCpu: median(bursts.map((b) => b.cpu)),
      },
    ];
  }),
);
const [small, large] = SIZES;
console.log(`console in Chromium ${version}; median (minimum) of ${RUNS} runs, the sizes alternating`);
for (const count of SIZES) {
  const r = results[count];
  console.log(
    `  ${String(count).padStart(5)} hosts: first render ${ms(r.render.median).padStart(7)} (${ms(r.render.min)})` +
      ` [page and data ${ms(r.load)}, table ${ms(r.table)}; page CPU ${ms(r.renderCpu)}]` +
      `   update burst ${ms(r.burst.median).padStart(7)} (${ms(r.burst.min)}) [page CPU ${ms(r.burstCpu)}]`,
  );
}
const ratio = (key, stat) =>
  (stat
    ? results[large][key][stat] / results[small][key][stat]
    : results[large][key] / results[small][key]
  ).toFixed(2);
console.log(
  `  ratio ${large}/${small}: first render ${ratio('render', 'median')} (minimums ${ratio('render', 'min')}),` +
    ` update burst ${ratio('burst', 'median')} (minimums ${ratio('burst', 'min')});` +
    ` page CPU: first render ${ratio('renderCpu')}, update burst ${ratio('burstCpu')}`,
);
console.log(
  `  target: first render with ${large} hosts under 1 s: ${results[large].render.median < 1000 ? 'met' : 'NOT met'} (median ${ms(results[large].render.median)})`,
);
