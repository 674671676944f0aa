/**
 * The service's cluster manager with a real SQLite store and the lab's RKE2 stand-in on loopback: per-host
 * config drive keys from one plan, the initializer's kubeconfig accepted (and others refused), nodes
 * tracked into events and `describe`, and remediation that power-cycles a NotReady node, lets it settle,
 * and gives up after its limit.
 */
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDescribe } from '../../src/cluster/describe.ts';
import { ClusterManager } from '../../src/service/cluster-manager.ts';
import { Store } from '../../src/service/store.ts';
import { Transitions } from '../../src/service/transitions.ts';
import type { HostSpec } from '../../src/service/types.ts';
import { installRelease, type StandIn, startStandIn } from '../lab/rke2-helpers.ts';
import { tempDir, waitFor } from './helpers.ts';

const { dir, cleanup } = tempDir('cluster-manager');
const stateDir = path.join(dir, 'state');
let store: Store;
let manager: ClusterManager;
let server: StandIn;
let release: string;
const powerCycles: string[] = [];
const provisioned: string[] = [];
let onPowerCycle: (host: string) => Promise<void> | void = () => {};
const serverRoot = path.join(dir, 'server-1');
const images = path.join(serverRoot, 'var/lib/rancher/rke2/agent/images');
const READY_IMAGES = ['rke2-images-core.linux-amd64.tar.zst', 'rke2-images-canal.linux-amd64.tar.gz'];

function spec(name: string, role: HostSpec['role'], networkData?: string): HostSpec {
  return {
    name,
    bmc: {
      address: `redfish://127.0.0.1:1/redfish/v1/Systems/${name}`,
      disableCertificateVerification: true,
    },
    role,
    online: true,
    labels: {},
    ...(networkData ? { networkData } : {}),
  };
}

const staticAddress = (ip: string) =>
  `interfaces:\n- name: eth0\n  type: ethernet\n  state: up\n  ipv4:\n    enabled: true\n    address:\n    - ip: ${ip}\n      prefix-length: 24\n`;

async function setImages(present: boolean): Promise<void> {
  await mkdir(images, { recursive: true });
  for (const f of READY_IMAGES) {
    if (present) await copyFile(path.join(release, f), path.join(images, f));
    else await rm(path.join(images, f), { force: true });
  }
}

const events = (host: string) => store.events({ host }).map((e) => `${e.reason}: ${e.message}`);

beforeAll(async () => {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  store = new Store(path.join(stateDir, 'outpost.db'));
  const transitions = new Transitions(store);
  for (const s of [
    spec('server-1', 'server', staticAddress('192.168.100.11')),
    spec('agent-1', 'agent', staticAddress('192.168.100.21')),
  ]) {
    const host = transitions.create(s);
    store.putHost({ ...host, state: 'provisioned', step: '' });
  }
  manager = new ClusterManager({
    store,
    stateDir,
    powerCycle: (host) => {
      powerCycles.push(host);
      void onPowerCycle(host);
    },
    provision: (host, image) => {
      provisioned.push(`${host}:${image}`);
      const record = store.getHost(host);
      if (record) store.putHost({ ...record, state: 'provisioning', step: 'power-off' });
    },
    event: (host, level, reason, message) => store.addEvent(host, level, reason, message),
    policy: { notReadyTimeoutMs: 1500, startupTimeoutMs: 60_000, settleMs: 8000, maxAttempts: 2 },
    tickMs: 200,
  });
  ({ release } = await installRelease(dir));
  const { rke2 } = await installRelease(path.join(dir, 'bin'));
  await mkdir(path.join(serverRoot, 'etc/rancher/rke2'), { recursive: true });
  await writeFile(
    path.join(serverRoot, 'etc/rancher/rke2/config.yaml'),
    'token: lab\nnode-name: server-1\nnode-ip: 127.0.0.1\ncni: canal\nnode-label: [outpost.io/host=server-1]\n',
  );
  server = await startStandIn(rke2, serverRoot, 'server', []);
});

afterAll(async () => {
  await manager?.stop();
  await server?.stop();
  store?.close();
  cleanup();
});

describe('ClusterManager', { timeout: 60_000 }, () => {
  it('plans the site and writes each host its config drive keys, the token kept 0600', async () => {
    expect(manager.configDriveKeys('server-1')).toBeUndefined();
    manager.define({
      name: 'lab',
      version: 'v1.32.4+rke2r1',
      apiVIPs: [],
      initializer: 'server-1',
      apiEndpoint: { address: '127.0.0.1', port: server.apiPort },
    });
    const token = manager.token() ?? '';
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(path.join(stateDir, 'cluster-token'))).mode & 0o777).toBe(0o600);
    expect(manager.configDriveKeys('server-1')).toEqual({
      outpost_kubernetes_role: 'initializer',
      outpost_kubernetes_token: token,
      outpost_kubernetes_node_name: 'server-1',
      outpost_kubernetes_node_ip: '192.168.100.11',
    });
    expect(manager.configDriveKeys('agent-1')).toEqual({
      outpost_kubernetes_role: 'agent',
      outpost_kubernetes_server: 'https://192.168.100.11:9345',
      outpost_kubernetes_token: token,
      outpost_kubernetes_node_name: 'agent-1',
      outpost_kubernetes_node_ip: '192.168.100.21',
    });
    expect(manager.status()?.phase).toBe('Provisioning');
  });

  it('accepts the kubeconfig from the initializer only, and checks it', async () => {
    const kubeconfig = await readFile(server.kubeconfig, 'utf8');
    expect(manager.acceptKubeconfig('agent-1', kubeconfig)).toEqual({
      status: 403,
      message: 'only the initializer (server-1) reports the kubeconfig',
    });
    expect(
      manager.acceptKubeconfig('server-1', kubeconfig.replace('client-key-data', 'client-key')),
    ).toMatchObject({
      status: 400,
    });
    expect(manager.kubeconfig()).toBeUndefined();
    expect(manager.acceptKubeconfig('server-1', kubeconfig)).toEqual({
      status: 200,
      message: 'kubeconfig accepted',
    });
    expect((await stat(path.join(stateDir, 'kubeconfig'))).mode & 0o777).toBe(0o600);
    expect(manager.kubeconfig()).toContain(`"server": "https://127.0.0.1:${server.apiPort}"`);
    manager.start();
    expect(manager.status()?.phase).toBe('ControlPlaneInitialized');
  });

  it('tracks the node to Ready, with events, and describes the cluster', async () => {
    await waitFor('server-1 NodeRegistered', () =>
      events('server-1').some((e) => e.startsWith('NodeRegistered')),
    );
    await setImages(true);
    await waitFor('server-1 NodeReady', () => events('server-1').some((e) => e.startsWith('NodeReady')), {
      describe: () => events('server-1').join(' | '),
    });
    expect(manager.nodeColumns('server-1')).toEqual({ node: 'server-1', ready: 'True' });
    const status = manager.status();
    expect(status?.machines.map((m) => [m.host, m.phase, m.nodeReady.status])).toEqual([
      ['agent-1', 'Provisioned', 'False'],
      ['server-1', 'Running', 'True'],
    ]);
    const tree = formatDescribe(status!, Date.now());
    expect(tree).toContain('Machine/server-1 (initializer)');
    expect(tree).toMatch(/Machine\/agent-1 +False +Info +NodeDoesNotExist/);
  });

  it('power-cycles a node that stays NotReady, and forgets it once Ready again', async () => {
    // The "reboot" brings the images back, as a real reboot would clear whatever wedged the node.
    onPowerCycle = () => {
      setTimeout(() => void setImages(true), 300);
    };
    await setImages(false);
    await waitFor('server-1 NodeNotReady', () =>
      events('server-1').some((e) => e.startsWith('NodeNotReady')),
    );
    await waitFor('a remediation reboot', () => powerCycles.length === 1, { timeoutMs: 20_000 });
    await waitFor(
      'server-1 Ready again',
      () => events('server-1').some((e) => e.startsWith('NodeReady: node server-1 Ready again')),
      {
        describe: () => events('server-1').join(' | '),
      },
    );
    expect(events('server-1').filter((e) => e.startsWith('RemediationReboot'))).toEqual([
      expect.stringMatching(/^RemediationReboot: node server-1 not Ready for \d+ s: power cycle 1 of 2$/),
    ]);
    await waitFor('the remediation record reset', () => {
      manager.remediate();
      return !events('server-1').some((e) => e.startsWith('Unhealthy')) && powerCycles.length === 1;
    });
  });

  it('gives up after the attempt limit and marks the machine unhealthy', async () => {
    onPowerCycle = () => {};
    powerCycles.length = 0;
    await setImages(false);
    await waitFor('Unhealthy', () => events('server-1').some((e) => e.startsWith('Unhealthy')), {
      timeoutMs: 45_000,
      describe: () => events('server-1').join(' | '),
    });
    expect(powerCycles).toEqual(['server-1', 'server-1']);
    const server1 = manager.status()?.machines.find((m) => m.host === 'server-1');
    expect(server1?.nodeReady).toMatchObject({ status: 'False', severity: 'Error', reason: 'Unhealthy' });
    // Left alone: no more power cycles however long it stays NotReady.
    await new Promise((r) => setTimeout(r, 1000));
    expect(powerCycles).toHaveLength(2);
  });

  it('cluster up: the initializer first, the rest once it is provisioned, resumed from the store', () => {
    for (const name of ['server-1', 'agent-1']) {
      const record = store.getHost(name);
      if (record) store.putHost({ ...record, state: 'available', step: '' });
    }
    expect(manager.up('site.raw')).toEqual({ started: ['server-1'], waiting: ['agent-1'] });
    expect(manager.rollout()).toEqual([]);
    const server1 = store.getHost('server-1');
    if (server1) store.putHost({ ...server1, state: 'provisioned', step: '' });
    expect(manager.rollout()).toEqual(['agent-1']);
    expect(provisioned).toEqual(['server-1:site.raw', 'agent-1:site.raw']);
    expect(manager.rollout()).toEqual([]);
  });
});
