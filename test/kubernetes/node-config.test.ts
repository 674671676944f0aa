import { describe, expect, it } from 'vitest';
import type { Kubernetes } from '../../src/definition/types.ts';
import { nodeConfigs, renderConfig } from '../../src/kubernetes/node-config.ts';

/* config.yaml per role, as Edge Image Builder's pkg/kubernetes/cluster.go builds it (plus the token everywhere). */

const TOKEN = 'K10-test-token';
const single: Pick<Kubernetes, 'network' | 'nodes'> = { nodes: [] };
const cluster: Pick<Kubernetes, 'network' | 'nodes'> = {
  network: { apiVIP: '192.168.122.100', apiHost: 'api.edge.example' },
  nodes: [
    { hostname: 'node1', type: 'server', initializer: false },
    { hostname: 'node2', type: 'server', initializer: true },
    { hostname: 'worker1', type: 'agent', initializer: false },
  ],
};

function render(k: Pick<Kubernetes, 'network' | 'nodes'>, serverConfig = {}, agentConfig = {}) {
  const c = nodeConfigs({ kubernetes: k, serverConfig, agentConfig, token: TOKEN });
  return {
    initializer: renderConfig(c.initializer),
    server: renderConfig(c.server),
    agent: renderConfig(c.agent),
  };
}

describe('config.yaml per role', () => {
  it('single node: cni default and token, no server key', () => {
    expect(render(single).initializer).toBe('cni: cilium\ntoken: K10-test-token\n');
  });

  it('single node keeps the user server.yaml keys and drops a server key', () => {
    const out = render(single, { 'write-kubeconfig-mode': '0644', cni: 'canal', server: 'https://x:9345' });
    expect(out.initializer).toBe('write-kubeconfig-mode: "0644"\ncni: canal\ntoken: K10-test-token\n');
  });

  it('initializer of a cluster: tls-san with VIP and apiHost, selinux false, no server', () => {
    expect(render(cluster).initializer).toBe(
      [
        'cni: cilium',
        'token: K10-test-token',
        'tls-san:',
        '  - 192.168.122.100',
        '  - api.edge.example',
        'selinux: false',
        '',
      ].join('\n'),
    );
  });

  it('joining server: joins through the VIP on 9345', () => {
    expect(render(cluster).server).toBe(
      [
        'cni: cilium',
        'token: K10-test-token',
        'tls-san:',
        '  - 192.168.122.100',
        '  - api.edge.example',
        'selinux: false',
        'server: https://192.168.122.100:9345',
        '',
      ].join('\n'),
    );
  });

  it("agent: agent.yaml with the servers' token, server, selinux and cni; no tls-san", () => {
    const out = render(
      cluster,
      { cni: 'calico', selinux: true, 'tls-san': 'a.example,b.example' },
      {
        'node-taint': ['role=edge:NoSchedule'],
        token: 'overwritten',
        cni: 'canal',
      },
    );
    expect(out.agent).toBe(
      [
        'node-taint:',
        '  - role=edge:NoSchedule',
        'token: K10-test-token',
        'cni: calico',
        'server: https://192.168.122.100:9345',
        'selinux: true',
        '',
      ].join('\n'),
    );
    expect(out.initializer).toBe(
      [
        'cni: calico',
        'selinux: true',
        'tls-san:',
        '  - a.example',
        '  - b.example',
        '  - 192.168.122.100',
        '  - api.edge.example',
        'token: K10-test-token',
        '',
      ].join('\n'),
    );
  });

  it('dual stack: IPv6 VIP in brackets when the cluster CIDR prefers IPv6', () => {
    const k = { ...cluster, network: { apiVIP: '192.168.122.100', apiVIP6: 'fd00::100' } };
    const v6first = nodeConfigs({
      kubernetes: k,
      serverConfig: { 'cluster-cidr': 'fd00:42::/56,10.42.0.0/16' },
      agentConfig: {},
      token: TOKEN,
    });
    expect(v6first.server.server).toBe('https://[fd00::100]:9345');
    expect(v6first.server['tls-san']).toEqual(['192.168.122.100', 'fd00::100']);
    const v4first = nodeConfigs({ kubernetes: k, serverConfig: {}, agentConfig: {}, token: TOKEN });
    expect(v4first.agent.server).toBe('https://192.168.122.100:9345');
    const v6only = nodeConfigs({
      kubernetes: { ...cluster, network: { apiVIP6: 'fd00::100' } },
      serverConfig: {},
      agentConfig: {},
      token: TOKEN,
    });
    expect(v6only.server.server).toBe('https://[fd00::100]:9345');
  });
});
