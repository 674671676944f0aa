import { describe, expect, it } from 'vitest';
import { parseClusterSpec } from '../../src/service/cluster-spec.ts';

const HOSTS = ['server-1', 'agent-1'];
const BASE = { name: 'edge-site', version: 'v1.32.4+rke2r1' };

describe('parseClusterSpec', () => {
  it('accepts a full definition', () => {
    expect(
      parseClusterSpec(
        {
          ...BASE,
          apiVIPs: ['192.168.100.10', 'fd00::10'],
          apiHost: 'api.edge.example',
          initializer: 'server-1',
          apiEndpoint: { address: '127.0.0.1', port: 16443 },
        },
        HOSTS,
      ),
    ).toEqual({
      ok: true,
      spec: {
        ...BASE,
        apiVIPs: ['192.168.100.10', 'fd00::10'],
        apiHost: 'api.edge.example',
        initializer: 'server-1',
        apiEndpoint: { address: '127.0.0.1', port: 16443 },
      },
    });
    expect(parseClusterSpec(BASE, HOSTS)).toEqual({ ok: true, spec: { ...BASE, apiVIPs: [] } });
  });

  it.each([
    ['a list', [], ['the body must be a JSON object']],
    ['an unknown field', { ...BASE, token: 'x' }, ['token: unknown field']],
    [
      'a bad name',
      { ...BASE, name: '../x' },
      ['name: must be a lower-case DNS label (a-z, 0-9, -; at most 63)'],
    ],
    [
      'a bad version',
      { ...BASE, version: 'latest' },
      ['version: must be an RKE2 release such as v1.32.4+rke2r1'],
    ],
    [
      'loopback VIP',
      { ...BASE, apiVIPs: ['127.0.0.1'] },
      ['apiVIPs: "127.0.0.1" is not a global unicast address'],
    ],
    [
      'link-local VIP',
      { ...BASE, apiVIPs: ['fe80::1'] },
      ['apiVIPs: "fe80::1" is not a global unicast address'],
    ],
    [
      'multicast VIP',
      { ...BASE, apiVIPs: ['224.0.0.5'] },
      ['apiVIPs: "224.0.0.5" is not a global unicast address'],
    ],
    [
      'two IPv4 VIPs',
      { ...BASE, apiVIPs: ['10.0.0.1', '10.0.0.2'] },
      ['apiVIPs: two addresses of the same family'],
    ],
    [
      'an unknown initializer',
      { ...BASE, initializer: 'ghost' },
      ['initializer: "ghost" is not a host of this site'],
    ],
    [
      'a bad endpoint',
      { ...BASE, apiEndpoint: { address: 'a b', port: 0 } },
      ['apiEndpoint: must be {"address": <IP or DNS name>, "port": 1-65535}'],
    ],
    ['a bad apiHost', { ...BASE, apiHost: 'x;y' }, ['apiHost: must be a DNS name']],
  ])('refuses %s', (_name, body, problems) => {
    expect(parseClusterSpec(body, HOSTS)).toEqual({ ok: false, problems });
  });
});
