/**
 * The Node tracker (@kubernetes/client-node ListWatch) against the lab's RKE2 stand-in on loopback: it
 * sees the server and an agent join and turn Ready, follows label changes through the watch, and comes
 * back by itself after the API server restarts (connection lost, then 410 for its old resourceVersion).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adoptKubeconfig } from '../../src/cluster/kubeconfig.ts';
import { NodeTracker, observeNode } from '../../src/cluster/tracker.ts';
import type { NodeObservation } from '../../src/cluster/types.ts';
import { installRelease, kubectl, type StandIn, startStandIn } from '../lab/rke2-helpers.ts';

let dir: string;
let release: string;
let rke2: string;
let server: StandIn;
let agent: StandIn | undefined;
let tracker: NodeTracker;
let latest: NodeObservation[] = [];
const errors: string[] = [];
const serverRoot = () => path.join(dir, 'server');

/** Waits until `check` holds for what the tracker last reported, at most `ms`; says what it waited for. */
async function until(what: string, check: (nodes: NodeObservation[]) => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check(latest)) {
    if (Date.now() > deadline) {
      const actual = await kubectl(server.kubeconfig, ['get', 'nodes', '-o', 'wide']);
      throw new Error(
        `tracker did not see ${what} within ${ms / 1000} s; it saw ${JSON.stringify(latest)}; errors: ${errors.join(' | ')}; kubectl: ${actual.stdout}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const node = (nodes: NodeObservation[], name: string) => nodes.find((n) => n.name === name);

async function copyImages(root: string, files: string[]): Promise<void> {
  const images = path.join(root, 'var/lib/rancher/rke2/agent/images');
  await mkdir(images, { recursive: true });
  for (const f of files) await copyFile(path.join(release, f), path.join(images, f));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cluster-tracker-'));
  ({ release, rke2 } = await installRelease(dir));
  const etc = path.join(serverRoot(), 'etc/rancher/rke2');
  await mkdir(etc, { recursive: true });
  await writeFile(
    path.join(etc, 'config.yaml'),
    'token: lab-secret\nnode-name: server-1\nnode-ip: 127.0.0.1\ncni: canal\nnode-label: [outpost.io/host=server-1]\n',
  );
  server = await startStandIn(rke2, serverRoot(), 'server', []);
  const adopted = adoptKubeconfig(
    await readFile(server.kubeconfig, 'utf8'),
    'lab',
    '127.0.0.1',
    server.apiPort,
  );
  if (!adopted.ok) throw new Error(adopted.problem);
  tracker = new NodeTracker(adopted.kubeconfig, {
    onNodes: (nodes) => {
      latest = nodes;
    },
    onError: (message) => errors.push(message),
    initialBackoffMs: 200,
    maxBackoffMs: 1000,
    watchTimeoutSeconds: 20,
  });
  await tracker.start();
});

afterAll(async () => {
  await tracker?.stop();
  await agent?.stop();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('NodeTracker against the RKE2 stand-in', { timeout: 120_000 }, () => {
  it('lists the server node NotReady, with its host label, then sees it turn Ready through the watch', async () => {
    await until('server-1 NotReady', (nodes) => node(nodes, 'server-1')?.ready === 'False');
    expect(node(latest, 'server-1')).toMatchObject({
      host: 'server-1',
      internalIP: '127.0.0.1',
      roles: expect.arrayContaining(['control-plane', 'etcd']),
      kubeletVersion: 'v1.32.4+rke2r1',
    });
    await copyImages(serverRoot(), [
      'rke2-images-core.linux-amd64.tar.zst',
      'rke2-images-canal.linux-amd64.tar.gz',
    ]);
    await until('server-1 Ready', (nodes) => node(nodes, 'server-1')?.ready === 'True');
  });

  it('sees an agent join and turn Ready', async () => {
    const token = (
      await readFile(path.join(serverRoot(), 'var/lib/rancher/rke2/server/token'), 'utf8')
    ).trim();
    const agentRoot = path.join(dir, 'agent-1');
    await mkdir(path.join(agentRoot, 'etc/rancher/rke2'), { recursive: true });
    await writeFile(
      path.join(agentRoot, 'etc/rancher/rke2/config.yaml'),
      `server: https://127.0.0.1:${server.supervisorPort}\ntoken: ${token}\nnode-name: agent-1\nnode-ip: 127.0.0.2\nnode-label: [outpost.io/host=agent-1]\n`,
    );
    agent = await startStandIn(rke2, agentRoot, 'agent', []);
    await until('agent-1 registered', (nodes) => node(nodes, 'agent-1')?.host === 'agent-1');
    expect(node(latest, 'agent-1')?.roles).toEqual([]);
    await copyImages(agentRoot, ['rke2-images.linux-amd64.tar.zst']);
    await until('agent-1 Ready', (nodes) => node(nodes, 'agent-1')?.ready === 'True');
  });

  it('recovers after the API server restarts: reconnects, relists, and follows new changes', async () => {
    const ports = { api: server.apiPort, supervisor: server.supervisorPort };
    await server.stop();
    server = await startStandIn(rke2, serverRoot(), 'server', [], ports);
    const relabel = await kubectl(server.kubeconfig, [
      'label',
      'node',
      'agent-1',
      'outpost.io/host=agent-9',
      '--overwrite',
    ]);
    expect(relabel.exitCode, relabel.stderr).toBe(0);
    await until(
      'the relabelled agent after the restart',
      (nodes) => node(nodes, 'agent-1')?.host === 'agent-9',
    );
    expect(errors.length, 'the lost connection was reported').toBeGreaterThan(0);
  });
});

describe('observeNode', () => {
  it('reads a Node as RKE2 publishes it (rke2-contract §3.2): roles, Ready, address, version', () => {
    const observed = observeNode({
      metadata: {
        name: 'server-01',
        creationTimestamp: new Date('2026-11-29T10:00:00Z'),
        labels: {
          'kubernetes.io/hostname': 'server-01',
          'node-role.kubernetes.io/control-plane': 'true',
          'node-role.kubernetes.io/etcd': 'true',
          'node-role.kubernetes.io/master': 'true',
          'outpost.io/host': 'rack1-u3',
        },
      },
      status: {
        addresses: [
          { type: 'InternalIP', address: '192.168.0.104' },
          { type: 'Hostname', address: 'server-01' },
        ],
        conditions: [
          { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory' },
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'kubelet is posting ready status',
            lastTransitionTime: new Date('2026-11-29T10:02:00Z'),
          },
        ],
        nodeInfo: { kubeletVersion: 'v1.33.1+rke2r1' } as never,
      },
    });
    expect(observed).toEqual({
      name: 'server-01',
      host: 'rack1-u3',
      ready: 'True',
      reason: 'KubeletReady',
      message: 'kubelet is posting ready status',
      readySince: Date.parse('2026-11-29T10:02:00Z'),
      created: Date.parse('2026-11-29T10:00:00Z'),
      roles: ['control-plane', 'etcd', 'master'],
      internalIP: '192.168.0.104',
      kubeletVersion: 'v1.33.1+rke2r1',
    });
  });

  it('a Node without a Ready condition is Unknown (kubectl prints Unknown)', () => {
    expect(observeNode({ metadata: { name: 'x' } }, 5)).toMatchObject({
      ready: 'Unknown',
      reason: 'NoReadyCondition',
      readySince: 5,
    });
  });
});
