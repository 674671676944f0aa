import { describe, expect, it } from 'vitest';
import {
  configDriveKeys,
  formatJoinPlan,
  planJoin,
  planWarnings,
  supervisorURL,
} from '../../src/cluster/join-plan.ts';
import type { ClusterMember } from '../../src/cluster/types.ts';
import { MEMBERS, SPEC } from './fixtures.ts';

describe('join plan', () => {
  it('makes the first server the initializer, joins the rest through the VIP, servers before agents', () => {
    const result = planJoin(SPEC, MEMBERS);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(formatJoinPlan(SPEC, result.plan)).toBe(
      [
        'cluster edge-site (RKE2 v1.32.4+rke2r1)',
        'joining nodes register at https://192.168.100.10:9345',
        'wave 1 (at once):',
        '  server-1 (server, initializer) node-ip 192.168.100.11',
        'wave 2 (once server-1 is provisioned):',
        '  server-2 (server) node-ip 192.168.100.12,fd00::12',
        '  agent-1 (agent)',
      ].join('\n'),
    );
    expect(result.plan.settings.get('server-1')).toEqual({
      role: 'server',
      initializer: true,
      nodeName: 'server-1',
      nodeIP: ['192.168.100.11'],
      tlsSan: ['192.168.100.10', 'api.edge.example'],
    });
    expect(result.plan.settings.get('agent-1')).toEqual({
      role: 'agent',
      initializer: false,
      server: 'https://192.168.100.10:9345',
      nodeName: 'agent-1',
      nodeIP: [],
      tlsSan: [],
    });
  });

  it('honours an explicit initializer and joins through its address when there is no VIP', () => {
    const members = MEMBERS.map((m) => (m.host === 'server-2' ? { ...m, initializer: true } : m));
    const result = planJoin({ ...SPEC, apiVIPs: [] }, members);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.plan.initializer).toBe('server-2');
    expect(result.plan.joinURL).toBe('https://192.168.100.12:9345');
    expect(result.plan.settings.get('server-1')?.server).toBe('https://192.168.100.12:9345');
    expect(result.plan.settings.get('server-2')?.server).toBeUndefined();
  });

  it('brackets IPv6 join addresses', () => {
    expect(supervisorURL('fd00::10')).toBe('https://[fd00::10]:9345');
    const result = planJoin({ ...SPEC, apiVIPs: ['fd00::10'] }, MEMBERS);
    expect(result.ok && result.plan.joinURL).toBe('https://[fd00::10]:9345');
  });

  it('a single server needs no address and no join URL', () => {
    const one: ClusterMember[] = [{ host: 'solo', role: 'server', initializer: false, addresses: [] }];
    const result = planJoin({ ...SPEC, apiVIPs: [] }, one);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.plan.joinURL).toBeUndefined();
    expect(result.plan.waves).toEqual([{ gate: 'none', hosts: ['solo'] }]);
  });

  it.each([
    [
      'no server',
      [{ host: 'a', role: 'agent', initializer: false, addresses: [] }],
      ['the cluster has no server: give at least one host the role server'],
    ],
    [
      'an agent as initializer',
      [
        { host: 's', role: 'server', initializer: false, addresses: ['10.0.0.1'] },
        { host: 'a', role: 'agent', initializer: true, addresses: [] },
      ],
      ['a: only a server can be the initializer (role is agent)'],
    ],
    [
      'two initializers',
      [
        { host: 's1', role: 'server', initializer: true, addresses: ['10.0.0.1'] },
        { host: 's2', role: 'server', initializer: true, addresses: ['10.0.0.2'] },
      ],
      ['more than one initializer: s1, s2 (exactly one server starts the cluster)'],
    ],
    [
      'nowhere to join',
      [
        { host: 's1', role: 'server', initializer: false, addresses: [] },
        { host: 'a1', role: 'agent', initializer: false, addresses: [] },
      ],
      [
        '1 host(s) must join s1, but the cluster has no API VIP and s1 has no static address in its network data: set an apiVIP or give s1 a static address',
      ],
    ],
  ] as [string, ClusterMember[], string[]][])('refuses %s', (_name, members, problems) => {
    expect(planJoin({ ...SPEC, apiVIPs: [] }, members)).toEqual({ ok: false, problems });
  });

  it('warns about an even number of servers', () => {
    const two = MEMBERS.filter((m) => m.role === 'server');
    expect(planWarnings(two)).toEqual([
      '2 servers tolerate no server failure (etcd needs a majority): use 1 or 3 servers',
    ]);
    expect(planWarnings(MEMBERS.slice(0, 1))).toEqual([]);
  });

  it('writes the config drive keys first boot reads (docs/first-boot.md)', () => {
    const result = planJoin(SPEC, MEMBERS);
    if (!result.ok) throw new Error(result.problems.join('; '));
    const keys = (host: string) => {
      const s = result.plan.settings.get(host);
      if (!s) throw new Error(host);
      return configDriveKeys(s, 'K10abc::server:secret');
    };
    expect(keys('server-1')).toEqual({
      outpost_kubernetes_role: 'initializer',
      outpost_kubernetes_token: 'K10abc::server:secret',
      outpost_kubernetes_node_name: 'server-1',
      outpost_kubernetes_node_ip: '192.168.100.11',
    });
    expect(keys('server-2')).toEqual({
      outpost_kubernetes_role: 'server',
      outpost_kubernetes_server: 'https://192.168.100.10:9345',
      outpost_kubernetes_token: 'K10abc::server:secret',
      outpost_kubernetes_node_name: 'server-2',
      outpost_kubernetes_node_ip: '192.168.100.12,fd00::12',
    });
    expect(keys('agent-1')).toEqual({
      outpost_kubernetes_role: 'agent',
      outpost_kubernetes_server: 'https://192.168.100.10:9345',
      outpost_kubernetes_token: 'K10abc::server:secret',
      outpost_kubernetes_node_name: 'agent-1',
    });
  });
});
