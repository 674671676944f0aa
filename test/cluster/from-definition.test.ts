import { describe, expect, it } from 'vitest';
import { clusterFromDefinition } from '../../src/cluster/from-definition.ts';
import type { Kubernetes } from '../../src/definition/types.ts';

const BASE: Kubernetes = {
  version: 'v1.32.4+rke2r1',
  distribution: 'rke2',
  nodes: [],
  manifests: { urls: [] },
  helm: { charts: [], repositories: [] },
};

describe('clusterFromDefinition', () => {
  it('takes version, both VIPs, apiHost and the marked initializer', () => {
    expect(
      clusterFromDefinition(
        {
          ...BASE,
          network: { apiVIP: '192.168.100.10', apiVIP6: 'fd00::10', apiHost: 'api.edge.example' },
          nodes: [
            { hostname: 'node1', type: 'server', initializer: false },
            { hostname: 'node2', type: 'server', initializer: true },
            { hostname: 'node3', type: 'agent', initializer: false },
          ],
        },
        'edge',
      ),
    ).toEqual({
      name: 'edge',
      version: 'v1.32.4+rke2r1',
      apiVIPs: ['192.168.100.10', 'fd00::10'],
      apiHost: 'api.edge.example',
      initializer: 'node2',
    });
  });

  it('without a mark, the first server listed starts the cluster (EIB); a single node has none', () => {
    const nodes = [
      { hostname: 'a1', type: 'agent' as const, initializer: false },
      { hostname: 's1', type: 'server' as const, initializer: false },
    ];
    expect(clusterFromDefinition({ ...BASE, nodes }, 'x').initializer).toBe('s1');
    expect(clusterFromDefinition(BASE, 'x')).toEqual({ name: 'x', version: 'v1.32.4+rke2r1', apiVIPs: [] });
  });
});
