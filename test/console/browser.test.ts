import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { installRelease, type StandIn, startStandIn } from '../lab/rke2-helpers.ts';
import { REPO, waitFor } from '../service/helpers.ts';
import { launchChromium, type Site, startSite } from './site.ts';

// The console in Debian's Chromium against a fake-lab site (emulated Dell and HPE BMCs, real Redfish client):
// what an operator sees and does, through the page only.
const SHOTS = path.join(REPO, 'test-results', 'console');
let site: Site;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let rke2: StandIn | undefined;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // A long backoff keeps a failed host's error on screen until the test has looked at it.
  site = await startSite(
    [
      { vendor: 'dell', hosts: 3 },
      { vendor: 'hpe', hosts: 2 },
    ],
    { timing: { backoffBaseMs: 120_000, backoffMaxMs: 120_000 } },
  );
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
}, 60_000);
afterAll(async () => {
  await rke2?.stop();
  await browser?.close();
  await site?.close();
});

/** The table's row of a host, as the page shows it now. */
const row = (name: string) => page.locator(`tbody tr[data-host="${name}"]`);

async function stateInTable(name: string, state: string, timeout = 20_000): Promise<void> {
  await page.waitForSelector(`tbody tr[data-host="${name}"][data-state="${state}"]`, { timeout });
}

describe('operator console in Chromium', { timeout: 60_000 }, () => {
  it('refuses a wrong token and sets no session cookie', async () => {
    await page.goto(site.url);
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/wrong API token/);
    expect(await context.cookies()).toEqual([]);
  });

  it('signs in with the API token: an HttpOnly, SameSite=Strict session cookie', async () => {
    await page.getByLabel('API token').fill(site.token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Hosts' }).waitFor();
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'outpost_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toContain(site.token);
    await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor();
  });

  it('shows hosts as they register and are inspected, without a reload', async () => {
    // A marker on the window survives only if the page is never reloaded.
    await page.evaluate(() => Object.assign(globalThis, { noReload: true }));
    await site.api.request('POST', '/hosts', site.inventory());
    for (const h of site.hosts) await stateInTable(h.name, 'available');
    expect(await row('dell-1').locator('td').nth(1).textContent()).toMatch(/Dell/);
    expect(await row('hpe-2').locator('td').nth(1).textContent()).toMatch(/HPE/);
    // No cluster yet, so no Node: the column says so with a dash.
    expect(await row('dell-1').locator('td').nth(4).textContent()).toBe('—');
    expect(await page.evaluate(() => (globalThis as { noReload?: boolean }).noReload)).toBe(true);
  });

  it('uses semantic tables: column and row headers, sortable by keyboard', async () => {
    expect(await page.locator('table[data-testid="hosts-table"] thead th[scope="col"]').count()).toBe(8);
    expect(await page.locator('table[data-testid="hosts-table"] tbody th[scope="row"]').count()).toBe(5);
    const names = () => page.locator('tbody th[scope="row"]').allTextContents();
    expect(await names()).toEqual(['dell-1', 'dell-2', 'dell-3', 'hpe-1', 'hpe-2']);
    await page.getByRole('button', { name: 'Name' }).focus();
    await page.keyboard.press('Enter');
    expect(await names()).toEqual(['hpe-2', 'hpe-1', 'dell-3', 'dell-2', 'dell-1']);
    expect(await page.locator('th[aria-sort="descending"]').textContent()).toMatch(/Name/);
    await page.keyboard.press('Enter');
    await page.getByRole('searchbox').fill('hpe');
    expect(await names()).toEqual(['hpe-1', 'hpe-2']);
    await page.getByRole('searchbox').fill('');
  });

  it('follows several hosts provisioning live: step, progress, installer percent', async () => {
    const provisioning = ['dell-1', 'dell-2', 'hpe-1'];
    for (const name of provisioning) {
      await site.api.request('POST', `/hosts/${name}/provision`, {
        image: 'site.iso',
        consumer: 'edge-a',
        callbacks: true,
      });
    }
    for (const name of provisioning) {
      await page.waitForSelector(`tbody tr[data-host="${name}"] .step:text-matches("^installer")`);
    }
    expect(await site.report('dell-1', { phase: 'installer', status: 'running', progress: 40 })).toBe(200);
    await row('dell-1').locator('.step', { hasText: 'installer (6/9) 40%' }).waitFor();
    expect(Number(await row('dell-1').locator('progress').getAttribute('value'))).toBe(60);
    expect(
      await site.report('dell-1', { phase: 'write', status: 'running', progress: 90, message: 'disk 90%' }),
    ).toBe(200);
    expect(await site.report('dell-1', { phase: 'installer', status: 'succeeded' })).toBe(200);
    expect(
      await site.report('dell-1', {
        phase: '17-users.sh',
        status: 'ok',
        message: '<img src=x onerror=pwn()>',
      }),
    ).toBe(200);
    expect(
      await site.report('dell-1', { phase: 'first-boot', status: 'succeeded', message: 'rke2-server up' }),
    ).toBe(200);
    expect(
      await site.report('dell-2', { phase: 'installer', status: 'failed', message: 'no disk /dev/sda' }),
    ).toBe(200);
    await stateInTable('dell-1', 'provisioned');
    await row('dell-2').locator('td.error-cell', { hasText: 'no disk /dev/sda' }).waitFor();
    expect(await page.evaluate(() => (globalThis as { noReload?: boolean }).noReload)).toBe(true);
    await page.getByRole('heading', { name: 'Hosts' }).click(); // no focus ring in the picture
    await page.screenshot({ path: path.join(SHOTS, 'hosts.png'), fullPage: true });
  });

  it("shows a host's timeline, hardware and latest messages; keyboard navigation", async () => {
    await page.getByRole('searchbox').focus();
    await page.keyboard.type('dell-1');
    await waitFor('the filter to keep one host', async () =>
      (await page.locator('tbody tr').count()) === 1 ? true : undefined,
    );
    await page.keyboard.press('Tab'); // State filter
    await page.keyboard.press('Tab'); // first sort button ... the header row has 8 buttons
    for (let i = 0; i < 8; i++) await page.keyboard.press('Tab');
    expect(
      await page.evaluate(
        () =>
          (globalThis as unknown as { document: { activeElement: { textContent: string } } }).document
            .activeElement.textContent,
      ),
    ).toBe('dell-1');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'dell-1', level: 1 }).waitFor();
    expect(page.url()).toMatch(/#\/hosts\/dell-1$/);
    await page.getByTestId('host-state').filter({ hasText: 'provisioned' }).waitFor();
    const bars = page.locator('.phase[data-phase="provisioning"] li.bar-row');
    expect(await bars.evaluateAll((items) => items.map((i) => i.getAttribute('data-step')))).toEqual([
      'power-off',
      'prepare-media',
      'insert-media',
      'boot-once',
      'power-on',
      'installer',
      'boot-disk',
      'first-boot',
      'eject-media',
    ]);
    expect(await bars.first().locator('.bar-time').textContent()).toMatch(/\d+(\.\d)? (ms|s) · succeeded/);
    expect(await page.getByTestId('installer-message').textContent()).toMatch(/^installer succeeded/);
    expect(await page.getByTestId('first-boot-message').textContent()).toMatch(
      /first-boot succeeded: rke2-server up/,
    );
    // A host's message is text, never markup.
    const events = page.locator('section[aria-labelledby="events-h"]');
    await events.getByText(/^17-users\.sh \w+: <img src=x onerror=pwn\(\)>$/).waitFor();
    expect(await events.locator('img').count()).toBe(0);
    expect(await page.locator('.facts').first().textContent()).toMatch(/Consumeredge-a/);
    expect(await page.getByRole('heading', { name: 'Hardware' }).isVisible()).toBe(true);
    expect(await page.locator('section[aria-labelledby="hw-h"] dd').first().textContent()).toMatch(/Dell/);
    await page.screenshot({ path: path.join(SHOTS, 'host.png'), fullPage: true });
  });

  it('provisions a host end to end from the page: confirmation, image picker, the BMC boots the image', async () => {
    await page.goto(`${site.url}/#/hosts/hpe-2`);
    await page.getByTestId('host-state').filter({ hasText: 'available' }).waitFor();
    await page.getByRole('button', { name: 'Provision…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Provision hpe-2?' }).waitFor();
    // Cancel first: nothing happens.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect((await site.api.request<{ state: string }>('GET', '/hosts/hpe-2')).state).toBe('available');
    await page.getByRole('button', { name: 'Provision…' }).click();
    await dialog.getByRole('option', { name: /site\.iso/ }).waitFor({ state: 'attached' });
    expect(await dialog.getByRole('option').allTextContents()).toEqual([
      'rescue.iso (0.0 MiB)',
      'site.iso (3.0 MiB)',
    ]);
    await dialog.getByLabel('Image', { exact: true }).selectOption('site.iso');
    await dialog.getByLabel('Consumer (optional)').fill('edge-b');
    // site.iso reports nothing: without this the API refuses it, and the dialog shows why.
    await dialog.getByLabel(/^No callbacks/).check();
    await dialog.getByRole('button', { name: 'Provision' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await waitFor('the BMC of hpe-2 to boot the installer from virtual CD', () =>
      site.labStatus('hpe-2').boots.some((b) => b.device === 'cd' && b.image?.endsWith('/media/site.iso')),
    );
    // Without callbacks the service watches the BMC: it saw the CD boot and waits for the boot from disk.
    await page.locator('.facts dd', { hasText: /^first-boot \(8\/9\)/ }).waitFor();
    const host = await site.api.request<{ state: string; consumer: string }>('GET', '/hosts/hpe-2');
    expect(host).toMatchObject({ state: 'provisioning', consumer: 'edge-b' });
  });

  it('powers a host off from the page and shows the refusal the API gives', async () => {
    await page.goto(`${site.url}/#/hosts/dell-3`);
    await page.getByTestId('host-state').filter({ hasText: 'available' }).waitFor();
    // The image disappears from the media dir between picking and confirming: the API's 400, word for word.
    await page.getByRole('button', { name: 'Provision…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('option', { name: /rescue\.iso/ }).waitFor({ state: 'attached' });
    await dialog.getByLabel('Image', { exact: true }).selectOption('rescue.iso');
    rmSync(path.join(site.mediaDir, 'rescue.iso'));
    await dialog.getByRole('button', { name: 'Provision' }).click();
    expect(await dialog.getByRole('alert').textContent()).toBe(
      "image 'rescue.iso' is not in the media dir (give a file name there, or an http(s) URL of an ISO)",
    );
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Power off' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Power off' }).click();
    await waitFor('dell-3 to be powered off by its BMC', () => site.labStatus('dell-3').power === 'Off');
    await page
      .locator('section[aria-labelledby="events-h"] td', { hasText: /power off/ })
      .first()
      .waitFor();
  });

  it('says when the site has no cluster, and how to define one', async () => {
    await page.getByRole('link', { name: 'Cluster' }).click();
    await page.getByRole('heading', { name: 'Cluster', level: 1 }).waitFor();
    expect(await page.getByTestId('no-cluster').textContent()).toMatch(
      /no cluster defined.*outpost cluster up/s,
    );
    expect(await page.getByText('not available yet').count()).toBe(0);
    expect(await page.getByTestId('kubeconfig-download').count()).toBe(0);
  });

  it('shows a defined cluster: phase, conditions, machines and the describe tree, as text', async () => {
    await site.api.request('PUT', '/cluster', {
      name: 'lab',
      version: 'v1.32.4+rke2r1',
      initializer: 'hpe-1',
      // The fake lab's hosts have no static address: the others join at the VIP.
      apiVIPs: ['192.0.2.10'],
    });
    // The page reads the cluster when it opens and on every host update of the event stream.
    await page.getByRole('link', { name: 'Hosts' }).click();
    await page.getByRole('link', { name: 'Cluster' }).click();
    await page.getByTestId('cluster-phase').waitFor();
    expect(await page.getByTestId('cluster-phase').textContent()).toMatch(/^(Pending|Provisioning)$/);
    const tree = await page.getByTestId('cluster-describe').textContent();
    expect(tree).toMatch(/^NAME\s+READY\s+SEVERITY\s+REASON\s+SINCE\s+MESSAGE/);
    expect(tree).toMatch(/Cluster\/lab/);
    expect(tree).toMatch(/Machine\/hpe-1 \(initializer\)/);
    // Plain text in a <pre>: the tree's characters, no markup made from it.
    expect(await page.getByTestId('cluster-describe').evaluate((e) => e.children.length)).toBe(0);
    const initializer = page.locator('tr[data-machine="hpe-1"]');
    expect(await initializer.locator('td').allTextContents()).toEqual([
      'server',
      'yes',
      expect.stringMatching(/^(Pending|Provisioning|Provisioned)$/),
      '—',
      '—',
      expect.any(String),
    ]);
    expect(await page.locator('[data-testid="cluster-conditions"] tbody tr').count()).toBeGreaterThan(0);
    // No kubeconfig reported yet: nothing to download.
    expect(await page.getByTestId('kubeconfig-download').count()).toBe(0);
    // Keyboard: a machine's link leads to its host page.
    await initializer.getByRole('link', { name: 'hpe-1' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'hpe-1', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Cluster' }).click();
    await page.getByTestId('cluster-describe').waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'cluster.png'), fullPage: true });
  });

  it("tracks the initializer's Node live: Node Ready column, machine row, metric, kubeconfig download", async () => {
    // The RKE2 stand-in plays hpe-1's server: a real Kubernetes API with a Node labelled for the host.
    const { rke2: bin } = await installRelease(path.join(site.dir, 'rke2'));
    const root = path.join(site.dir, 'hpe-1-root');
    mkdirSync(path.join(root, 'etc/rancher/rke2'), { recursive: true });
    writeFileSync(
      path.join(root, 'etc/rancher/rke2/config.yaml'),
      'token: lab\nnode-name: hpe-1\nnode-ip: 127.0.0.1\nnode-label: [outpost.io/host=hpe-1]\n',
    );
    rke2 = await startStandIn(bin, root, 'server', []);
    await site.api.request('PUT', '/cluster', {
      name: 'lab',
      version: 'v1.32.4+rke2r1',
      initializer: 'hpe-1',
      apiVIPs: ['192.0.2.10'],
      apiEndpoint: { address: '127.0.0.1', port: rke2.apiPort },
    });
    const kubeconfig = readFileSync(rke2.kubeconfig).toString('base64');
    expect(await site.report('hpe-1', { phase: 'kubeconfig', status: 'ok', kubeconfig })).toBe(200);
    // The page is still the cluster page, never reloaded: the Node arrives through the event stream.
    const node = page.locator('tr[data-machine="hpe-1"] td').nth(3);
    await node.filter({ hasText: 'hpe-1' }).waitFor();
    const ready = await page.locator('tr[data-machine="hpe-1"] td').nth(4).textContent();
    // Its air-gap images are not imported here, so the stand-in's kubelet reports NotReady.
    expect(ready).toBe('NotReady');
    expect(await page.getByTestId('cluster-describe').textContent()).toMatch(
      /Machine\/hpe-1 \(initializer\)[^\n]*\n[ │]*└─Node\/hpe-1/,
    );
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download kubeconfig' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('lab.kubeconfig');
    const saved = path.join(SHOTS, 'lab.kubeconfig');
    await download.saveAs(saved);
    const adopted = parse(readFileSync(saved, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    rmSync(saved);
    expect(adopted.clusters.map((c) => c.cluster.server)).toEqual([`https://127.0.0.1:${rke2.apiPort}`]);
    // The hosts table shows the same readiness in its Node Ready column, and the metric counts Ready ones.
    await page.getByRole('link', { name: 'Hosts' }).click();
    expect(await row('hpe-1').locator('td').nth(4).textContent()).toBe(ready);
    expect(await row('dell-1').locator('td').nth(4).textContent()).toBe('—');
    const metrics = await (
      await fetch(`${site.url}/metrics`, { headers: { Authorization: `Bearer ${site.token}` } })
    ).text();
    expect(metrics).toMatch(/^outpost_cluster_nodes_ready 0$/m);
    expect(await page.evaluate(() => (globalThis as { noReload?: boolean }).noReload)).toBe(true);
  });

  it('signs out: the event stream and the API are closed to the old cookie', async () => {
    const [cookie] = await context.cookies();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    const r = await fetch(`${site.url}/console/api/v1/hosts`, {
      headers: { Cookie: `${cookie!.name}=${cookie!.value}` },
    });
    expect(r.status).toBe(401);
  });
});
