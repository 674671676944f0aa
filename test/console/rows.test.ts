// The console's host rows and ready-node count from the cluster's facts: pure functions, no service.
import { describe, expect, it } from 'vitest';
import { clusterStatus, type MemberFacts } from '../../src/cluster/status.ts';
import type { NodeObservation } from '../../src/cluster/types.ts';
import { readyNodes } from '../../src/service/console/index.ts';
import { hostRow } from '../../src/service/console/rows.ts';
import type { HostRecord } from '../../src/service/types.ts';

const host = (name: string): HostRecord => ({
  id: name,
  name,
  spec: {
    name,
    bmc: {
      address: 'redfish+http://127.0.0.1:1/redfish/v1/Systems/1',
      disableCertificateVerification: false,
    },
    role: 'server',
    online: true,
    labels: {},
  },
  state: 'provisioned',
  step: '',
  stepStartedAt: 0,
  createdAt: 0,
  updatedAt: 0,
});

const member = (name: string, initializer = false): MemberFacts => ({
  member: { host: name, role: 'server', initializer, addresses: [] },
  phase: 'Provisioned',
  phaseSince: 0,
});

const node = (name: string, ready: NodeObservation['ready']): NodeObservation => ({
  name,
  host: name,
  ready,
  reason: ready === 'True' ? 'KubeletReady' : 'KubeletNotReady',
  message: '',
  readySince: 0,
  created: 0,
  roles: ['control-plane'],
});

describe('console rows', () => {
  it("carries the host's Node name and readiness: true, false, or null when unknown or none", () => {
    expect(hostRow(host('a'))).toMatchObject({ node: null, nodeReady: null });
    expect(hostRow(host('a'), { node: 'a', ready: 'True' })).toMatchObject({ node: 'a', nodeReady: true });
    expect(hostRow(host('a'), { node: 'a', ready: 'False' })).toMatchObject({ node: 'a', nodeReady: false });
    expect(hostRow(host('a'), { node: 'a', ready: 'Unknown' })).toMatchObject({ node: 'a', nodeReady: null });
  });

  it("counts the members' Nodes that are Ready, not stray Nodes", () => {
    const status = clusterStatus(
      {
        name: 'lab',
        members: [member('a', true), member('b'), member('c')],
        nodes: [node('a', 'True'), node('b', 'False'), { ...node('stray', 'True'), host: 'elsewhere' }],
      },
      0,
    );
    expect(status.strayNodes.map((n) => n.name)).toEqual(['stray']);
    expect(readyNodes(status)).toBe(1);
  });
});
