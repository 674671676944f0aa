import { describe, expect, it } from 'vitest';
import { describeJSON, formatDescribe, humanDuration } from '../../src/cluster/describe.ts';
import { clusterStatus } from '../../src/cluster/status.ts';
import { facts, MIN, node, T0 } from './fixtures.ts';

/* Each case carries the exact tree `outpost cluster describe` prints for it, in clusterctl's legacy columns. */

const NOW = T0 + 30 * MIN;

describe('cluster status and describe', () => {
  it('before anything is provisioned: Pending', () => {
    const status = clusterStatus(
      { name: 'edge-site', members: [facts('server-1', 'Pending', 0, true)], nodes: [] },
      NOW,
    );
    expect(status.phase).toBe('Pending');
    expect(formatDescribe(status, NOW)).toBe(
      [
        'NAME                                READY  SEVERITY  REASON                SINCE  MESSAGE',
        'Cluster/edge-site                   False  Info      NotInitialized        30m    ControlPlaneInitialized: waiting for server-1 to start the cluster; ControlPlaneAvailable: 0 of 1 ready; waiting for server-1',
        '└─ControlPlane - RKE2 servers       False  Info      WaitingForReadyNodes  30m    0 of 1 ready; waiting for server-1',
        '  └─Machine/server-1 (initializer)  False  Info      NodeDoesNotExist      30m    host is pending',
      ].join('\n'),
    );
  });

  it('control plane initialized, one server NotReady, the agent still provisioning', () => {
    const status = clusterStatus(
      {
        name: 'edge-site',
        members: [
          facts('server-1', 'Provisioned', 10, true),
          facts('server-2', 'Provisioned', 20),
          facts('agent-1', 'Provisioning', 25),
        ],
        nodes: [
          node('server-1', 'True', 12, { internalIP: '192.168.100.11', kubeletVersion: 'v1.32.4+rke2r1' }),
          node('server-2', 'False', 22),
        ],
        initializedAt: T0 + 11 * MIN,
        startedAt: T0,
      },
      NOW,
    );
    expect(status.phase).toBe('ControlPlaneInitialized');
    expect(status.machines.map((m) => [m.host, m.phase])).toEqual([
      ['server-1', 'Running'],
      ['server-2', 'Running'],
      ['agent-1', 'Provisioning'],
    ]);
    expect(formatDescribe(status, NOW)).toBe(
      [
        'NAME                                READY  SEVERITY  REASON                SINCE  MESSAGE',
        'Cluster/edge-site                   False  Warning   NotAvailable          8m     ControlPlaneAvailable: 1 of 2 ready; waiting for server-2; WorkersAvailable: 0 of 1 ready; waiting for agent-1',
        '├─ControlPlane - RKE2 servers       False  Warning   WaitingForReadyNodes  8m     1 of 2 ready; waiting for server-2',
        '│ ├─Machine/server-1 (initializer)  True                                   18m',
        '│ │ └─Node/server-1                 True                                   18m    192.168.100.11 v1.32.4+rke2r1',
        '│ └─Machine/server-2                False  Warning   NodeNotReady          8m     container runtime network not ready',
        '│   └─Node/server-2                 False  Warning   KubeletNotReady       8m     container runtime network not ready',
        '└─Workers - RKE2 agents             False  Info      WaitingForReadyNodes  5m     0 of 1 ready; waiting for agent-1',
        '  └─Machine/agent-1                 False  Info      NodeDoesNotExist      5m     host is provisioning',
      ].join('\n'),
    );
  });

  it("keeps one line per row whatever a node's kubelet reports (newlines, escape sequences)", () => {
    const status = clusterStatus(
      {
        name: 'edge-site',
        members: [facts('server-1', 'Provisioned', 10, true)],
        nodes: [
          node('server-1', 'False', 12, {
            message: 'not ready\nCluster/edge-site  True\u001b[2J\u009b31m\u202e',
            kubeletVersion: 'v1.32.4+rke2r1\r',
          }),
        ],
        initializedAt: T0 + 11 * MIN,
        startedAt: T0,
      },
      NOW,
    );
    const lines = formatDescribe(status, NOW).split('\n');
    expect(lines).toHaveLength(1 + 4);
    expect(lines.join('\n')).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(lines.at(-1)).toMatch(/Node\/server-1 .* not ready Cluster\/edge-site {2}True\[2J31m$/);
  });

  it('every node Ready: Available, and a Node without our label is reported as stray', () => {
    const status = clusterStatus(
      {
        name: 'edge-site',
        members: [facts('server-1', 'Provisioned', 10, true), facts('agent-1', 'Provisioned', 15)],
        nodes: [
          node('server-1', 'True', 12),
          node('agent-1', 'True', 17),
          node('someone-else', 'True', 5, { host: undefined }),
        ],
        initializedAt: T0 + 11 * MIN,
      },
      NOW,
    );
    expect(status.phase).toBe('Available');
    expect(status.strayNodes.map((n) => n.name)).toEqual(['someone-else']);
    expect(formatDescribe(status, NOW)).toBe(
      [
        'NAME                                READY  SEVERITY  REASON  SINCE  MESSAGE',
        'Cluster/edge-site                   True                     13m',
        '├─ControlPlane - RKE2 servers       True                     18m',
        '│ └─Machine/server-1 (initializer)  True                     18m',
        '│   └─Node/server-1                 True                     18m',
        '└─Workers - RKE2 agents             True                     13m',
        '  └─Machine/agent-1                 True                     13m',
        '    └─Node/agent-1                  True                     13m',
      ].join('\n'),
    );
    expect(describeJSON(status)).toMatchObject({ phase: 'Available', strayNodes: ['someone-else'] });
  });

  it('a host remediation gave up on is an Error, and the initializer is never un-initialized', () => {
    const gaveUp = { ...facts('agent-1', 'Provisioned', 15), unhealthy: true };
    const status = clusterStatus(
      {
        name: 'edge-site',
        members: [facts('server-1', 'Provisioned', 10, true), gaveUp],
        nodes: [node('agent-1', 'Unknown', 20)],
        initializedAt: T0 + 11 * MIN,
      },
      NOW,
    );
    expect(status.phase).toBe('ControlPlaneInitialized');
    const agent = status.machines.find((m) => m.host === 'agent-1');
    expect(agent?.nodeReady).toMatchObject({ status: 'False', severity: 'Error', reason: 'Unhealthy' });
    expect(status.conditions[0]).toMatchObject({ type: 'Available', severity: 'Error' });
  });

  it('a Node registered twice for one host: the newest counts', () => {
    const status = clusterStatus(
      {
        name: 'edge-site',
        members: [facts('server-1', 'Provisioned', 10, true)],
        nodes: [node('server-1', 'False', 12), { ...node('server-1', 'True', 20), name: 'server-1-new' }],
      },
      NOW,
    );
    expect(status.machines[0]?.node?.name).toBe('server-1-new');
  });
});

describe('humanDuration (apimachinery HumanDuration)', () => {
  it.each([
    [-5_000, '<invalid>'],
    [0, '0s'],
    [119_000, '119s'],
    [120_000, '2m'],
    [125_000, '2m5s'],
    [600_000, '10m'],
    [179 * MIN, '179m'],
    [180 * MIN, '3h'],
    [190 * MIN, '3h10m'],
    [8 * 60 * MIN, '8h'],
    [47 * 60 * MIN, '47h'],
    [49 * 60 * MIN, '2d1h'],
    [10 * 24 * 60 * MIN, '10d'],
    [(2 * 365 + 3) * 24 * 60 * MIN, '2y3d'],
    [9 * 365 * 24 * 60 * MIN, '9y'],
  ])('%d ms -> %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});
