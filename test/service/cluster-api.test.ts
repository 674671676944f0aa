/**
 * The site's cluster through the real service API, with the lab's emulated BMCs (fake machines) and the
 * RKE2 stand-in on loopback as the initializer's cluster: define, plan, `up` in waves, the initializer's
 * kubeconfig callback (and refusals), the admin kubeconfig used by real kubectl, node columns and describe.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../../src/lab/index.ts';
import type { ServiceClient } from '../../src/service/client.ts';
import { redfishDriver } from '../../src/service/driver.ts';
import { type RunningService, startService } from '../../src/service/service.ts';
import type { HostView } from '../../src/service/views.ts';
import { installRelease, kubectl, type StandIn, startStandIn } from '../lab/rke2-helpers.ts';
import { clientFor, inventoryOf, listHosts, OUTPOST, summary, tempDir, waitFor } from './helpers.ts';

const tmp = tempDir('cluster-api');
const stateDir = path.join(tmp.dir, 'state');
const mediaDir = path.join(tmp.dir, 'media');
let lab: Lab;
let service: RunningService;
let api: ServiceClient;
let rke2: StandIn;

const staticAddress = (ip: string) =>
  `interfaces:\n- name: eth0\n  type: ethernet\n  state: up\n  ipv4:\n    enabled: true\n    address:\n    - ip: ${ip}\n      prefix-length: 24\n`;

beforeAll(async () => {
  lab = await startLab({ hosts: 2, backend: 'fake', stateDir: path.join(tmp.dir, 'lab') });
  mkdirSync(mediaDir);
  writeFileSync(path.join(mediaDir, 'site.iso'), 'not really an ISO');
  service = await startService({
    stateDir,
    mediaDir,
    host: '127.0.0.1',
    port: 0,
    driver: redfishDriver({ retry: { attempts: 2, delayMs: 100 }, timeoutMs: 5000 }),
    timing: { backoffBaseMs: 200, backoffMaxMs: 1000 },
    log: () => {},
  });
  api = clientFor(service.url, stateDir);
  const { rke2: bin } = await installRelease(path.join(tmp.dir, 'release'));
  const root = path.join(tmp.dir, 'host-1');
  await mkdir(path.join(root, 'etc/rancher/rke2'), { recursive: true });
  await writeFile(
    path.join(root, 'etc/rancher/rke2/config.yaml'),
    'token: lab\nnode-name: host-1\nnode-ip: 127.0.0.1\nnode-label: [outpost.io/host=host-1]\n',
  );
  rke2 = await startStandIn(bin, root, 'server', []);
});
afterAll(async () => {
  await service?.close();
  await rke2?.stop();
  await lab?.close();
  tmp.cleanup();
});

const host = (name: string) => api.request<HostView>('GET', `/hosts/${name}`);
function hostConfig(name: string): { callbackUrl: string; callbackToken: string } {
  return JSON.parse(readFileSync(path.join(stateDir, 'host-config', `${name}.json`), 'utf8'));
}
async function report(name: string, body: object) {
  const r = await fetch(hostConfig(name).callbackUrl, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${hostConfig(name).callbackToken}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as { error?: string; message?: string } };
}
async function waitStep(name: string, state: string, step: string) {
  return waitFor(
    `${name} at ${state}/${step || '(done)'}`,
    async () => {
      const h = await host(name);
      return h.state === state && (h.step ?? '') === step ? h : undefined;
    },
    { timeoutMs: 30_000, describe: async () => summary(await listHosts(api)) },
  );
}
/** Plays the installer and first boot of a host until the service calls it provisioned. */
async function install(name: string) {
  await waitStep(name, 'provisioning', 'installer');
  expect((await report(name, { phase: 'installer', status: 'succeeded' })).status).toBe(200);
  lab.guestReboot(name);
  expect((await report(name, { phase: 'first-boot', status: 'succeeded' })).status).toBe(200);
  await waitStep(name, 'provisioned', '');
}

describe('the site cluster through the API', { timeout: 120_000 }, () => {
  it('has no cluster until one is defined, and refuses a bad definition whole', async () => {
    const inventory = inventoryOf(lab);
    const [h1, h2] = inventory.hosts;
    await api.request('POST', '/hosts', {
      hosts: [
        { ...h1, role: 'server', networkData: staticAddress('192.168.100.11') },
        { ...h2, role: 'agent', networkData: staticAddress('192.168.100.21') },
      ],
    });
    await waitStep('host-1', 'available', '');
    await waitStep('host-2', 'available', '');
    await expect(api.request('GET', '/cluster')).rejects.toThrow(/no cluster/);
    await expect(
      api.request('PUT', '/cluster', { name: 'Lab!', version: 'v1.32.4+rke2r1', initializer: 'ghost' }),
    ).rejects.toThrow(/problems/);
    await expect(api.request('GET', '/cluster')).rejects.toThrow(/no cluster/);
  });

  it('defines the cluster and prints its plan', async () => {
    const answer = await api.request<{ plan: string; warnings: string[] }>('PUT', '/cluster', {
      name: 'lab',
      version: 'v1.32.4+rke2r1',
      initializer: 'host-1',
      apiEndpoint: { address: '127.0.0.1', port: rke2.apiPort },
    });
    expect(answer.plan).toBe(
      [
        'cluster lab (RKE2 v1.32.4+rke2r1)',
        'joining nodes register at https://192.168.100.11:9345',
        'wave 1 (at once):',
        '  host-1 (server, initializer) node-ip 192.168.100.11',
        'wave 2 (once host-1 is provisioned):',
        '  host-2 (agent) node-ip 192.168.100.21',
      ].join('\n'),
    );
    const shown = await api.request<{ phase: string; spec: object }>('GET', '/cluster');
    expect(shown.phase).toBe('Pending');
    expect(JSON.stringify(shown)).not.toMatch(/token|apiEndpoint/);
  });

  it('cluster up provisions the initializer first, then the agent once the initializer is provisioned', async () => {
    expect(await api.request('POST', '/cluster/up', { image: 'site.iso' })).toEqual({
      started: ['host-1'],
      waiting: ['host-2'],
    });
    expect((await host('host-2')).state).toBe('available');
    await install('host-1');
    await waitStep('host-2', 'provisioning', 'installer');
    expect((await host('host-2')).consumer).toBe('cluster');
  });

  it('takes the kubeconfig from the initializer only, and gives it to the API token holder', async () => {
    const kubeconfig = Buffer.from(readFileSync(rke2.kubeconfig)).toString('base64');
    const fromAgent = await report('host-2', { phase: 'kubeconfig', status: 'ok', kubeconfig });
    expect(fromAgent).toEqual({
      status: 403,
      body: { error: 'only the initializer (host-1) reports the kubeconfig' },
    });
    expect(
      (await report('host-1', { phase: 'kubeconfig', status: 'ok', kubeconfig: 'not base64!' })).status,
    ).toBe(400);
    await expect(api.request('GET', '/cluster/kubeconfig')).rejects.toThrow(/no kubeconfig yet/);
    expect(await report('host-1', { phase: 'kubeconfig', status: 'ok', kubeconfig })).toEqual({
      status: 200,
      body: { ok: true, message: 'kubeconfig accepted' },
    });
    const response = await fetch(`${service.url}/api/v1/cluster/kubeconfig`, {
      headers: { Authorization: `Bearer ${readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim()}` },
    });
    expect(response.headers.get('cache-control')).toBe('no-store');
    const adopted = path.join(tmp.dir, 'admin.kubeconfig');
    writeFileSync(adopted, await response.text(), { mode: 0o600 });
    const nodes = await kubectl(adopted, ['get', 'nodes', '-o', 'name']);
    expect(nodes.stdout, nodes.stderr).toBe('node/host-1');
  });

  it('tracks the node into the host list and the describe tree', async () => {
    await waitFor('host-1 node registered', async () => {
      const { hosts } = await api.request<{
        hosts: (HostView & { node: { node: string; ready: string } })[];
      }>('GET', '/hosts');
      return hosts.find((h) => h.name === 'host-1')?.node.node === 'host-1';
    });
    const shown = await api.request<{ phase: string; describe: string }>('GET', '/cluster');
    expect(shown.phase).toBe('ControlPlaneInitialized');
    expect(shown.describe).toMatch(/Machine\/host-1 \(initializer\)\s+False\s+Warning\s+NodeNotReady/);
    expect(shown.describe).toMatch(/└─Machine\/host-2\s+False\s+Info\s+NodeDoesNotExist/);
  });

  it('the CLI: cluster plan, describe, kubeconfig, hosts list with NODE and READY, a bad dry run refused', async () => {
    const cli = (...args: string[]) =>
      execa(
        process.execPath,
        [OUTPOST, ...args, '--server', service.url, '--token-file', path.join(stateDir, 'api-token')],
        {
          reject: false,
          env: { OUTPOST_STATE_DIR: path.join(tmp.dir, 'nowhere') },
        },
      );
    const plan = await cli('cluster', 'plan');
    expect(plan.stdout.split('\n')[0]).toBe('cluster lab (RKE2 v1.32.4+rke2r1)');
    const describe = await cli('cluster', 'describe');
    expect(describe.exitCode, describe.stderr).toBe(0);
    expect(describe.stdout.split('\n')[0]).toMatch(/^NAME +READY +SEVERITY +REASON +SINCE +MESSAGE$/);
    expect(describe.stdout).toContain('Machine/host-1 (initializer)');
    const json = JSON.parse((await cli('cluster', 'describe', '-o', 'json')).stdout);
    expect(json).toMatchObject({
      name: 'lab',
      phase: expect.stringMatching(/^(ControlPlaneInitialized|Available)$/),
    });
    const kubeconfig = await cli('cluster', 'kubeconfig');
    expect(kubeconfig.stdout).toContain(`"server": "https://127.0.0.1:${rke2.apiPort}"`);
    const list = await cli('hosts', 'list');
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME +STATE +CONSUMER +ONLINE +ERROR +NODE +READY +AGE$/);
    expect(list.stdout).toMatch(/host-1 +provisioned +cluster +true +host-1 +False /);
    const bad = await cli('cluster', 'up', '--dry-run', '--rke2-version', 'latest');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('version: must be an RKE2 release such as v1.32.4+rke2r1');
  });
});
