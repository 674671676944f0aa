/**
 * The lab's RKE2 stand-in (bin/rke2 of the release) on loopback, checked with real kubectl: node list and
 * readiness, manifests auto-deploy with a HelmChart and its static chart, apply, watch semantics, and joins
 * with a right and wrong token.
 */
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiRequest,
  installRelease,
  kubectl,
  type StandIn,
  startStandIn,
  supervisorGet,
  watch,
} from './rke2-helpers.ts';

let dir: string;
let release: string;
let rke2: string;
let server: StandIn;
const others: StandIn[] = [];
const serverRoot = () => path.join(dir, 'server');
const dataDir = () => path.join(serverRoot(), 'var/lib/rancher/rke2');
const GRACE_SECONDS = 20;
const CHART = Buffer.from('not really a chart, but bytes whose digest the test checks\n');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rke2-standin-'));
  ({ release, rke2 } = await installRelease(dir));
  // What first boot writes before starting rke2-server: config (with a drop-in), a manifest, a chart.
  const etc = path.join(serverRoot(), 'etc/rancher/rke2');
  await mkdir(path.join(etc, 'config.yaml.d'), { recursive: true });
  await writeFile(
    path.join(etc, 'config.yaml'),
    'token: lab-secret\nnode-name: server-1\nnode-ip: 127.0.0.1\ntls-san: [api.site.test]\ncni: canal\n' +
      'node-label:\n  - outpost.io/host=server-1\n' +
      // Silent nodes turn Unknown after this (40 s by default); above the 10 s lease renewal, as in Kubernetes.
      `kube-controller-manager-arg: [node-monitor-grace-period=${GRACE_SECONDS}s]\n`,
  );
  await writeFile(path.join(etc, 'config.yaml.d', '50-site.yaml'), 'node-label+:\n  - outpost.io/site=lab\n');
  const manifests = path.join(dataDir(), 'server/manifests');
  await mkdir(manifests, { recursive: true });
  await mkdir(path.join(dataDir(), 'server/static/charts'), { recursive: true });
  await writeFile(path.join(dataDir(), 'server/static/charts/demo-1.0.0.tgz'), CHART);
  await writeFile(
    path.join(manifests, 'demo.yaml'),
    [
      'apiVersion: v1',
      'kind: Namespace',
      'metadata: {name: demo}',
      '---',
      'apiVersion: helm.cattle.io/v1',
      'kind: HelmChart',
      'metadata: {name: demo, namespace: kube-system}',
      'spec:',
      '  chart: https://%{KUBERNETES_API}%/static/charts/demo-1.0.0.tgz',
      '  targetNamespace: demo',
      '  valuesContent: "replicas: 1"',
      '---',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: site-info, namespace: demo}',
      'data: {site: lab}',
      '',
    ].join('\n'),
  );
  server = await startStandIn(rke2, serverRoot(), 'server', []);
});

afterAll(async () => {
  for (const node of [...others, server]) await node?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Puts one of the release's image archives where a node at `root` loads images from (as first boot does). */
async function placeImages(root: string, archive: string): Promise<void> {
  const images = path.join(root, 'var/lib/rancher/rke2/agent/images');
  await mkdir(images, { recursive: true });
  await copyFile(path.join(release, archive), path.join(images, archive));
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('rke2 server (stand-in) on loopback', () => {
  it('writes the token, its links, the CA and a 0600 kubeconfig where RKE2 does', async () => {
    const token = await readFile(path.join(dataDir(), 'server/token'), 'utf8');
    const ca = await readFile(path.join(dataDir(), 'server/tls/server-ca.crt'));
    expect(token).toBe(`K10${sha256(ca)}::server:lab-secret\n`);
    expect((await stat(path.join(dataDir(), 'server/token'))).mode & 0o777).toBe(0o600);
    expect((await lstat(path.join(dataDir(), 'server/node-token'))).isSymbolicLink()).toBe(true);
    expect(await readlink(path.join(dataDir(), 'server/node-token'))).toBe('token');
    expect((await stat(server.kubeconfig)).mode & 0o777).toBe(0o600);
    expect(await readFile(server.kubeconfig, 'utf8')).toContain(
      `server: https://127.0.0.1:${server.apiPort}`,
    );
    expect(await supervisorGet(server.supervisorPort, '/ping')).toEqual({ status: 200, body: 'pong' });
    expect((await supervisorGet(server.supervisorPort, '/cacerts')).body).toBe(ca.toString('latin1'));
    expect((await supervisorGet(server.supervisorPort, '/v1-rke2/config')).status).toBe(401);
  });

  it('kubectl get nodes -o wide: the server node, NotReady without images, labels from config and drop-in', async () => {
    const run = await kubectl(server.kubeconfig, ['get', 'nodes', '-o', 'wide']);
    expect(run.stderr).toBe('');
    const [header, row] = run.stdout.split('\n');
    expect(header!.split(/\s{2,}/)).toEqual([
      'NAME',
      'STATUS',
      'ROLES',
      'AGE',
      'VERSION',
      'INTERNAL-IP',
      'EXTERNAL-IP',
      'OS-IMAGE',
      'KERNEL-VERSION',
      'CONTAINER-RUNTIME',
    ]);
    const cells = row!.split(/\s+/);
    expect(cells.slice(0, 3)).toEqual(['server-1', 'NotReady', 'control-plane,etcd,master']);
    expect(cells[4]).toBe('v1.32.4+rke2r1');
    expect(cells[5]).toBe('127.0.0.1');
    const labels = await kubectl(server.kubeconfig, [
      'get',
      'node',
      'server-1',
      '-o',
      'jsonpath={.metadata.labels}',
    ]);
    expect(JSON.parse(labels.stdout)).toMatchObject({
      'outpost.io/host': 'server-1',
      'outpost.io/site': 'lab',
      'node-role.kubernetes.io/control-plane': 'true',
      'kubernetes.io/hostname': 'server-1',
    });
    const message = await kubectl(server.kubeconfig, [
      'get',
      'node',
      'server-1',
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].message}',
    ]);
    expect(message.stdout).toContain('rancher/rke2-runtime:v1.32.4-rke2r1');
  });

  it('kubectl wait: times out while NotReady; Ready once the core and CNI archives are in agent/images', async () => {
    const early = await kubectl(server.kubeconfig, [
      'wait',
      '--for=condition=Ready',
      'node/server-1',
      '--timeout=2s',
    ]);
    expect(early.exitCode).toBe(1);
    expect(early.stderr).toContain('timed out');
    await placeImages(serverRoot(), 'rke2-images-core.linux-amd64.tar.zst');
    // Runtime present, CNI (canal) images not yet: still NotReady, and the reason says what is missing.
    await new Promise((r) => setTimeout(r, 3000));
    const reason = await kubectl(server.kubeconfig, [
      'get',
      'node',
      'server-1',
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].message}',
    ]);
    expect(reason.stdout).toContain('cni plugin not initialized');
    expect(reason.stdout).toContain('rancher/hardened-flannel');
    await placeImages(serverRoot(), 'rke2-images-canal.linux-amd64.tar.gz');
    const ready = await kubectl(server.kubeconfig, [
      'wait',
      '--for=condition=Ready',
      'node/server-1',
      '--timeout=20s',
    ]);
    expect(ready.stdout).toBe('node/server-1 condition met');
    const taints = await kubectl(server.kubeconfig, [
      'get',
      'node',
      'server-1',
      '-o',
      'jsonpath={.spec.taints}',
    ]);
    expect(taints.stdout).not.toContain('not-ready');
  });

  it('applies the manifests folder: kubectl get helmcharts -A, the chart served at /static/charts', async () => {
    const charts = await kubectl(server.kubeconfig, ['get', 'helmcharts', '-A']);
    const [header, row] = charts.stdout.split('\n');
    expect(header!.split(/\s{2,}/).slice(0, 4)).toEqual(['NAMESPACE', 'NAME', 'REPO', 'CHART']);
    expect(row).toMatch(
      /^kube-system\s+demo\s+https:\/\/%\{KUBERNETES_API\}%\/static\/charts\/demo-1\.0\.0\.tgz/,
    );
    const cm = await kubectl(server.kubeconfig, [
      'get',
      'configmap',
      'site-info',
      '-n',
      'demo',
      '-o',
      'json',
    ]);
    expect(JSON.parse(cm.stdout).data).toEqual({ site: 'lab' });
    const addon = await kubectl(server.kubeconfig, [
      'get',
      'addons.k3s.cattle.io',
      'demo',
      '-n',
      'kube-system',
    ]);
    expect(addon.exitCode).toBe(0);
    for (const port of [server.apiPort, server.supervisorPort]) {
      const chart = await supervisorGet(port, '/static/charts/demo-1.0.0.tgz');
      expect(chart.status).toBe(200);
      expect(sha256(Buffer.from(chart.body, 'latin1'))).toBe(sha256(CHART));
      for (const outside of [
        '/static/../server/token',
        '/static/charts/%2e%2e/%2e%2e/token',
        '/static/charts/',
      ])
        expect((await supervisorGet(port, outside)).status).toBe(404);
    }
  });

  it('skips manifests it must not apply (YAML aliases, a file name that is no valid Addon name) and says why', async () => {
    const manifests = path.join(dataDir(), 'server/manifests');
    const configMap = (name: string, data: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: default}\n${data}`;
    await writeFile(path.join(manifests, 'bomb.yaml'), configMap('bomb', 'x: &a [1, 2]\ndata: {y: *a}\n'));
    await writeFile(path.join(manifests, 'bad_name.yaml'), configMap('underscored', 'data: {a: b}\n'));
    await new Promise((r) => setTimeout(r, 3000));
    expect(server.output()).toContain('YAML aliases are not accepted');
    expect(server.output()).toContain("'bad_name' is not a valid Addon name");
    for (const name of ['bomb', 'underscored'])
      expect((await kubectl(server.kubeconfig, ['get', 'cm', name])).exitCode).toBe(1);
  });

  it('kubectl apply creates and then patches a ConfigMap (a removed key goes away)', async () => {
    const file = path.join(dir, 'cm.yaml');
    const manifest = (data: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: default\ndata:\n${data}`;
    await writeFile(file, manifest('  a: "1"\n  b: "2"\n'));
    expect((await kubectl(server.kubeconfig, ['apply', '-f', file])).stdout).toBe(
      'configmap/applied created',
    );
    await writeFile(file, manifest('  a: "3"\n'));
    expect((await kubectl(server.kubeconfig, ['apply', '-f', file])).stdout).toBe(
      'configmap/applied configured',
    );
    const got = await kubectl(server.kubeconfig, ['get', 'cm', 'applied', '-o', 'json']);
    expect(JSON.parse(got.stdout).data).toEqual({ a: '3' });
    await writeFile(file, manifest('  a: "1"\n').replace('name: applied', 'name: Bad_Name'));
    const bad = await kubectl(server.kubeconfig, ['apply', '-f', file]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('Invalid');
  });

  it('watch: events after a resourceVersion, bookmarks when asked, the initial-events bookmark', async () => {
    const list = JSON.parse((await apiRequest(server.kubeconfig, '/api/v1/nodes')).body);
    const rv = list.metadata.resourceVersion as string;
    const stream = watch(
      server.kubeconfig,
      `/api/v1/nodes?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=3`,
    );
    await new Promise((r) => setTimeout(r, 500));
    const label = await kubectl(server.kubeconfig, ['label', 'node', 'server-1', 'outpost.io/watched=yes']);
    expect(label.exitCode).toBe(0);
    const events = await stream;
    const modified = events.find((e) => e.type === 'MODIFIED');
    expect(modified?.object.metadata?.name).toBe('server-1');
    expect(Number(modified?.object.metadata?.resourceVersion)).toBeGreaterThan(Number(rv));
    expect(events.at(-1)?.type).toBe('BOOKMARK');
    const initial = await watch(
      server.kubeconfig,
      '/api/v1/nodes?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1',
    );
    expect(initial[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'server-1' } } });
    expect(initial[1]?.type).toBe('BOOKMARK');
    expect(initial[1]?.object.metadata?.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
  });

  it('an agent with the full token joins; its node appears with its labels and readiness', async () => {
    const token = (await readFile(path.join(dataDir(), 'server/token'), 'utf8')).trim();
    const agentRoot = path.join(dir, 'agent-1');
    await mkdir(path.join(agentRoot, 'etc/rancher/rke2'), { recursive: true });
    await writeFile(
      path.join(agentRoot, 'etc/rancher/rke2/config.yaml'),
      `server: https://127.0.0.1:${server.supervisorPort}\ntoken: ${token}\nnode-name: agent-1\n` +
        'node-ip: 127.0.0.2\nnode-label: [outpost.io/host=agent-1]\n',
    );
    const agent = await startStandIn(rke2, agentRoot, 'agent', []);
    others.push(agent);
    const appeared = await kubectl(server.kubeconfig, [
      'wait',
      '--for=create',
      'node/agent-1',
      '--timeout=20s',
    ]);
    expect(appeared.exitCode, `${appeared.stderr}\n${agent.output()}`).toBe(0);
    const wide = await kubectl(server.kubeconfig, ['get', 'node', 'agent-1', '-o', 'wide', '--no-headers']);
    expect(wide.stdout.split(/\s+/).slice(0, 3)).toEqual(['agent-1', 'NotReady', '<none>']);
    expect(wide.stdout).toContain('127.0.0.2');
    await placeImages(agentRoot, 'rke2-images.linux-amd64.tar.zst');
    const ready = await kubectl(server.kubeconfig, [
      'wait',
      '--for=condition=Ready',
      'node/agent-1',
      '--timeout=20s',
    ]);
    expect(ready.stdout, agent.output()).toBe('node/agent-1 condition met');
    const secret = await kubectl(server.kubeconfig, [
      'get',
      'secret',
      '-n',
      'kube-system',
      'agent-1.node-password.rke2',
    ]);
    expect(secret.exitCode).toBe(0);
  });

  it('a killed agent turns Unknown after the grace period; back, it is Ready and stays so before its lease renews', async () => {
    const token = (await readFile(path.join(dataDir(), 'server/token'), 'utf8')).trim();
    const agentRoot = path.join(dir, 'agent-2');
    await mkdir(path.join(agentRoot, 'etc/rancher/rke2'), { recursive: true });
    await writeFile(
      path.join(agentRoot, 'etc/rancher/rke2/config.yaml'),
      `server: https://127.0.0.1:${server.supervisorPort}\ntoken: ${token}\nnode-name: agent-2\nnode-ip: 127.0.0.3\n`,
    );
    await placeImages(agentRoot, 'rke2-images.linux-amd64.tar.zst');
    const waitFor = async (condition: string, seconds: number, agent: StandIn) => {
      // kubectl wait needs the object first; the node may not have registered yet.
      await kubectl(server.kubeconfig, ['wait', '--for=create', 'node/agent-2', '--timeout=20s']);
      const waited = await kubectl(
        server.kubeconfig,
        ['wait', `--for=condition=${condition}`, 'node/agent-2', `--timeout=${seconds}s`],
        (seconds + 10) * 1000,
      );
      expect(waited.stdout, `waiting for ${condition}: ${waited.stderr}\n${agent.output()}`).toBe(
        'node/agent-2 condition met',
      );
    };
    const first = await startStandIn(rke2, agentRoot, 'agent', []);
    await waitFor('Ready', 30, first);
    // Power loss: no goodbye, the lease simply stops being renewed.
    first.process.kill('SIGKILL');
    await first.process;
    await waitFor('Ready=Unknown', GRACE_SECONDS + 20, first);
    const again = await startStandIn(rke2, agentRoot, 'agent', []);
    others.push(again);
    await waitFor('Ready', 30, again);
    // Its fresh status is a heartbeat: the server must not turn it Unknown again while the old lease is stale.
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      const ready = await kubectl(server.kubeconfig, [
        'get',
        'node',
        'agent-2',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]);
      seen.push(ready.stdout);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(new Set(seen), again.output()).toEqual(new Set(['True']));
    // Gone for good, as a person would remove it: the tests after this one see the site without it.
    await again.stop();
    const deleted = await kubectl(server.kubeconfig, ['delete', 'node', 'agent-2']);
    expect(deleted.stdout).toBe('node "agent-2" deleted');
  }, 120_000);

  it('refuses a join with a wrong CA hash, a wrong password, or a reused node name with another node password', async () => {
    const token = (await readFile(path.join(dataDir(), 'server/token'), 'utf8')).trim();
    const secret = token.split(':').at(-1)!;
    const cases: [string, string, string][] = [
      [
        `K10${'0'.repeat(64)}::server:${secret}`,
        'agent-x',
        'token CA hash does not match the Cluster CA certificate hash',
      ],
      [token.replace(/:[^:]+$/, ':wrong'), 'agent-x', 'token is not valid'],
      [token, 'agent-1', 'Node password rejected'],
    ];
    for (const [bad, name, message] of cases) {
      const root = await mkdtemp(path.join(dir, 'bad-agent-'));
      const agent = await startStandIn(rke2, root, 'agent', [
        '--server',
        `https://127.0.0.1:${server.supervisorPort}`,
        '--token',
        bad,
        '--node-name',
        name,
      ]);
      const result = await agent.process;
      expect(result.exitCode).toBe(1);
      expect(agent.output()).toContain(message);
      expect(agent.output()).not.toContain(secret);
    }
    const nodes = await kubectl(server.kubeconfig, ['get', 'nodes', '-o', 'name']);
    expect(nodes.stdout.split('\n').sort()).toEqual(['node/agent-1', 'node/server-1']);
  });

  it('a second server joins: same CA and token, its node has the server roles, its API answers kubectl', async () => {
    const token = (await readFile(path.join(dataDir(), 'server/token'), 'utf8')).trim();
    const root = path.join(dir, 'server-2');
    const second = await startStandIn(rke2, root, 'server', [
      '--server',
      `https://127.0.0.1:${server.supervisorPort}`,
      '--token',
      token,
      '--node-name',
      'server-2',
      '--node-ip',
      '127.0.0.3',
    ]);
    others.push(second);
    const data = path.join(root, 'var/lib/rancher/rke2/server');
    expect(await readFile(path.join(data, 'token'), 'utf8')).toBe(`${token}\n`);
    expect(await readFile(path.join(data, 'tls/server-ca.crt'))).toEqual(
      await readFile(path.join(dataDir(), 'server/tls/server-ca.crt')),
    );
    // Through the second server's own kubeconfig and API port (forwarded to the first server's API).
    const appeared = await kubectl(second.kubeconfig, [
      'wait',
      '--for=create',
      'node/server-2',
      '--timeout=20s',
    ]);
    expect(appeared.exitCode, second.output()).toBe(0);
    const row = await kubectl(second.kubeconfig, ['get', 'node', 'server-2', '--no-headers']);
    expect(row.stdout.split(/\s+/).slice(0, 3)).toEqual([
      'server-2',
      'NotReady',
      'control-plane,etcd,master',
    ]);
    await kubectl(server.kubeconfig, ['delete', 'node', 'server-2']);
  });

  it('tells systemd it is ready (Type=notify) once it serves; write-kubeconfig-mode 0644 honoured', async () => {
    const socket = path.join(dir, 'notify.sock');
    const listener = execa(
      '/usr/bin/python3',
      [
        '-c',
        'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\n' +
          'print("bound",flush=True)\ns.settimeout(20)\nprint(s.recv(200).decode(),flush=True)',
        socket,
      ],
      { reject: false, buffer: false },
    );
    await new Promise<void>((resolve) => listener.stdout?.once('data', () => resolve()));
    let message = '';
    listener.stdout?.on('data', (chunk: Buffer) => {
      message += chunk.toString();
    });
    const root = await mkdtemp(path.join(dir, 'notify-'));
    await mkdir(path.join(root, 'etc/rancher/rke2'), { recursive: true });
    // YAML reads an unquoted 0644 as the number 420: RKE2's meaning (octal 644) is kept.
    await writeFile(path.join(root, 'etc/rancher/rke2/config.yaml'), 'write-kubeconfig-mode: 0644\n');
    const node = await startStandIn(rke2, root, 'server', ['--node-name', 'notified'], undefined, {
      NOTIFY_SOCKET: socket,
    });
    await listener;
    await node.stop();
    expect(message.trim()).toBe('READY=1');
    expect((await stat(node.kubeconfig)).mode & 0o777).toBe(0o644);
  });

  it('refuses bad configuration with exit 1 naming the file or key', async () => {
    const cases: [string, string][] = [
      ['token: [unclosed\n', 'config.yaml: invalid YAML'],
      ['cni: weave\n', "cni: unsupported value 'weave'"],
      ['write-kubeconfig-mode: rw\n', "write-kubeconfig-mode: 'rw' is not a file mode"],
      ['node-label: ["bad label=x"]\nserver: https://127.0.0.1:1\ntoken: t\n', 'node-label: invalid label'],
      [
        'kube-controller-manager-arg: [node-monitor-grace-period=soon]\n',
        'node-monitor-grace-period=soon is not a duration like 40s',
      ],
      ['kube-controller-manager-arg: [node-monitor-grace-period=0s]\n', 'node-monitor-grace-period=0s'],
    ];
    for (const [config, message] of cases) {
      const root = await mkdtemp(path.join(dir, 'bad-config-'));
      await mkdir(path.join(root, 'etc/rancher/rke2'), { recursive: true });
      await writeFile(path.join(root, 'etc/rancher/rke2/config.yaml'), config);
      const run = await startStandIn(rke2, root, 'server', []).catch((e: Error) => e);
      expect(run).toBeInstanceOf(Error);
      expect((run as Error).message).toContain(message);
    }
  });

  it('after a restart: objects kept, same CA and token, a watch from before the restart gets 410 Expired', async () => {
    const before = JSON.parse((await apiRequest(server.kubeconfig, '/api/v1/nodes')).body).metadata
      .resourceVersion;
    const token = await readFile(path.join(dataDir(), 'server/token'), 'utf8');
    await server.stop();
    server = await startStandIn(rke2, serverRoot(), 'server', [], {
      api: server.apiPort,
      supervisor: server.supervisorPort,
    });
    expect(await readFile(path.join(dataDir(), 'server/token'), 'utf8')).toBe(token);
    const got = await kubectl(server.kubeconfig, ['get', 'cm', 'applied', '-o', 'jsonpath={.data.a}']);
    expect(got.stdout).toBe('3');
    const events = await watch(server.kubeconfig, `/api/v1/nodes?watch=1&resourceVersion=1&timeoutSeconds=2`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', code: 410, reason: 'Expired' },
    });
    // A client that re-lists gets a current resourceVersion it can watch from.
    const after = JSON.parse((await apiRequest(server.kubeconfig, '/api/v1/nodes')).body).metadata
      .resourceVersion;
    expect(Number(after)).toBeGreaterThanOrEqual(Number(before));
    const resumed = await watch(
      server.kubeconfig,
      `/api/v1/nodes?watch=1&resourceVersion=${after}&timeoutSeconds=1`,
    );
    expect(resumed.filter((e) => e.type === 'ERROR')).toEqual([]);
    // The agent rode out the server's restart (it retries, as the kubelet does).
    await new Promise((r) => setTimeout(r, 2500));
    const agent = others.find((o) => o.root.endsWith('agent-1'))!;
    expect(agent.running(), agent.output()).toBe(true);
  });
});
