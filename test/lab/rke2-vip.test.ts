/**
 * The API VIP in the lab: two RKE2 stand-in servers (the initializer and a joining server), each in a network
 * namespace of its own bridged into a site network, with the VIP objects the image ships (EIB's
 * IPAddressPool, L2Advertisement and `kubernetes-vip` Service, from src/kubernetes/manifests.ts) in the
 * initializer's auto-deploy folder. From the root namespace, real kubectl reaches https://VIP:6443. The
 * stand-ins' MetalLB-speaker stand-in moves the VIP when the lease changes hands and when its holder's
 * machine fails (process killed, link down), announcing it with gratuitous ARP (checked in the root
 * namespace's neighbour table).
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartFileName, helmChartManifest, VIP_CHARTS, vipManifest } from '../../src/kubernetes/manifests.ts';
import { createSiteNetwork, type SiteNetwork } from '../../src/lab/site-network.ts';
import { installRelease, kubectl } from './rke2-helpers.ts';

interface Server {
  name: string;
  namespace: string;
  address: string;
  root: string;
  mac: string;
  process?: ResultPromise;
  output: string;
}

const suffix = randomBytes(3).toString('hex');
let dir: string;
let release: string;
let rke2: string;
let site: SiteNetwork;
let vipKubeconfig: string;
const servers: Server[] = [];

const dataDir = (s: Server) => path.join(s.root, 'var/lib/rancher/rke2');

async function addNode(name: string, index: number): Promise<Server> {
  const namespace = `outpost-test-vip-${suffix}-${index}`;
  const rootEnd = `vip${suffix}${index}`;
  await execa('ip', ['netns', 'add', namespace]);
  await execa('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
  await execa('ip', ['link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', namespace]);
  const address = site.serverAddress(index);
  await execa('ip', ['-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'eth1']);
  await execa('ip', ['-n', namespace, 'link', 'set', 'eth1', 'up']);
  await site.attach(rootEnd);
  const mac = (
    await execa('ip', ['netns', 'exec', namespace, 'cat', '/sys/class/net/eth1/address'])
  ).stdout.trim();
  const root = path.join(dir, name);
  // Ready needs the runtime and the CNI's images in agent/images, as on a node.
  const images = path.join(root, 'var/lib/rancher/rke2/agent/images');
  await mkdir(images, { recursive: true });
  for (const archive of ['rke2-images-core.linux-amd64.tar.zst', 'rke2-images-canal.linux-amd64.tar.gz'])
    await copyFile(path.join(release, archive), path.join(images, archive));
  const server: Server = { name, namespace, address, root, mac, output: '' };
  servers.push(server);
  return server;
}

/** `rke2 server` inside the node's namespace, on RKE2's own ports (6443, 9345) on every address. */
function start(server: Server, args: string[]): void {
  const child = execa(
    'ip',
    [
      'netns',
      'exec',
      server.namespace,
      rke2,
      'server',
      '--node-name',
      server.name,
      '--node-ip',
      server.address,
      ...args,
    ],
    { env: { RKE2_LAB_ROOT: server.root }, reject: false, all: true, buffer: false },
  );
  child.all?.on('data', (chunk: Buffer) => {
    server.output += chunk.toString();
  });
  server.process = child;
}

/** Waits (at most `seconds`) for `check` to pass; the error names what was awaited and the servers' output. */
async function until(what: string, seconds: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > seconds * 1000)
      throw new Error(
        `${what}: not within ${seconds} s\n${servers.map((s) => `--- ${s.name}\n${s.output.slice(-3000)}`).join('\n')}`,
      );
    await sleep(250);
  }
  return (Date.now() - started) / 1000;
}

async function holdsVip(server: Server): Promise<boolean> {
  const out = await execa('ip', ['-n', server.namespace, '-4', 'addr', 'show', 'dev', 'eth1'], {
    reject: false,
  });
  return out.stdout.includes(`${site.vip}/32`);
}

async function vipNeighbour(): Promise<string> {
  return (await execa('ip', ['neigh', 'show', site.vip], { reject: false })).stdout;
}

async function nodesThroughVip(): Promise<string[]> {
  const run = await kubectl(vipKubeconfig, ['get', 'nodes', '--no-headers', '--request-timeout=5s'], 15_000);
  if (run.exitCode !== 0) return [];
  return run.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(/\s+/).slice(0, 2).join(' '));
}

async function leaseHolder(): Promise<string> {
  const run = await kubectl(vipKubeconfig, [
    ...['get', 'lease', '-n', 'metallb-system', 'outpost-vip-speaker', '--request-timeout=5s'],
    ...['-o', 'jsonpath={.spec.holderIdentity}'],
  ]);
  return run.stdout.trim();
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rke2-vip-'));
  ({ release, rke2 } = await installRelease(dir));
  site = await createSiteNetwork();
}, 120_000);

afterAll(async () => {
  for (const s of servers) {
    s.process?.kill('SIGTERM');
    await s.process;
    await execa('ip', ['netns', 'delete', s.namespace], { reject: false });
  }
  await site?.close();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('API VIP of the lab (MetalLB L2 speaker stand-in) on a site network', () => {
  it('kubectl reaches both servers through the VIP; the VIP follows the lease and survives the holder failing', async () => {
    const first = await addNode('server-1', 0);
    const second = await addNode('server-2', 1);
    // What the image puts into the initializer's auto-deploy folder when the definition has an API VIP.
    const manifests = path.join(dataDir(first), 'server/manifests');
    await mkdir(manifests, { recursive: true });
    const metallb = VIP_CHARTS[0]!;
    await writeFile(
      path.join(manifests, 'outpost-helmchart-metallb.yaml'),
      helmChartManifest({ chart: metallb, fileName: chartFileName(metallb), sha256: '0'.repeat(64) }),
    );
    await writeFile(path.join(manifests, 'outpost-kubernetes-vip.yaml'), vipManifest({ apiVIP: site.vip })!);

    start(first, ['--token', 'lab-secret', '--tls-san', site.vip, '--cni', 'canal']);
    const firstVip = await until('server-1 announces the VIP', 60, () => holdsVip(first));
    const kubeconfig = await readFile(path.join(first.root, 'etc/rancher/rke2/rke2.yaml'), 'utf8');
    vipKubeconfig = path.join(dir, 'vip.kubeconfig');
    // As the service does with the kubeconfig the initializer reports: the server rewritten to the VIP.
    await writeFile(vipKubeconfig, kubeconfig.replace('https://127.0.0.1:6443', `https://${site.vip}:6443`), {
      mode: 0o600,
    });

    // The joining server registers through the VIP, as EIB configures servers (server: https://<VIP>:9345).
    const token = (await readFile(path.join(dataDir(first), 'server/token'), 'utf8')).trim();
    start(second, ['--server', `https://${site.vip}:9345`, '--token', token, '--tls-san', site.vip]);
    await until('kubectl through the VIP lists both servers Ready', 60, async () => {
      const nodes = await nodesThroughVip();
      return nodes.includes('server-1 Ready') && nodes.includes('server-2 Ready');
    });
    expect(await leaseHolder()).toBe('server-1');
    expect(await vipNeighbour()).toContain(`lladdr ${first.mac}`);
    const ingress = await kubectl(vipKubeconfig, [
      ...['get', 'service', 'kubernetes-vip', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'],
    ]);
    expect(ingress.stdout).toBe(site.vip);

    // The lease changes hands (written through the API): server-1 lets the VIP go, server-2 takes it up.
    const now = new Date().toISOString().replace('Z', '000Z');
    const handover = await kubectl(vipKubeconfig, [
      ...['patch', 'lease', '-n', 'metallb-system', 'outpost-vip-speaker', '--type', 'merge'],
      ...['-p', JSON.stringify({ spec: { holderIdentity: 'server-2', renewTime: now } })],
    ]);
    expect(handover.exitCode, handover.stderr).toBe(0);
    const moved = await until('the VIP moves to server-2 (and leaves server-1)', 20, async () => {
      return (await holdsVip(second)) && !(await holdsVip(first));
    });
    // Gratuitous ARP updated this machine's neighbour entry: traffic to the VIP goes to server-2 now.
    await until('the root namespace learns the VIP at server-2 (gratuitous ARP)', 10, async () =>
      (await vipNeighbour()).includes(`lladdr ${second.mac}`),
    );
    // Through server-2's API port (it forwards to the initializer's API).
    await until('kubectl lists both servers Ready through server-2', 15, async () => {
      const nodes = await nodesThroughVip();
      return nodes.length === 2 && nodes.includes('server-1 Ready') && nodes.includes('server-2 Ready');
    });

    // server-2's machine fails: its rke2 is killed without cleanup and its link goes down. The lease expires
    // (10 s) and server-1 takes the VIP back.
    second.process?.kill('SIGKILL');
    await second.process;
    await execa('ip', ['-n', second.namespace, 'link', 'set', 'eth1', 'down']);
    const failover = await until('server-1 takes the VIP over after the lease expired', 30, () =>
      holdsVip(first),
    );
    await until('the root namespace learns the VIP at server-1 again', 10, async () =>
      (await vipNeighbour()).includes(`lladdr ${first.mac}`),
    );
    await until('kubectl answers through the VIP again', 15, async () =>
      (await nodesThroughVip()).includes('server-1 Ready'),
    );
    expect(await leaseHolder()).toBe('server-1');
    expect(first.output).toMatch(
      /takes the lease metallb-system\/outpost-vip-speaker from server-2 \(expired\)/,
    );

    // A stopped server gives the VIP up.
    first.process?.kill('SIGTERM');
    await first.process;
    expect(await holdsVip(first)).toBe(false);
    process.stdout.write(
      `VIP: first announced ${firstVip.toFixed(1)} s after start; moved on lease handover in ${moved.toFixed(1)} s; taken over ${failover.toFixed(1)} s after the holder failed (lease 10 s)\n`,
    );
  }, 240_000);
});
