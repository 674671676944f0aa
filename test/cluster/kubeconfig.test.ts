import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { adoptKubeconfig, KUBECONFIG_MAX_BYTES } from '../../src/cluster/kubeconfig.ts';

const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

/** What RKE2 writes to /etc/rancher/rke2/rke2.yaml (rke2-contract §2.5): server on loopback, inline client cert. */
const RKE2_YAML = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${CA}
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
`;

describe('adoptKubeconfig', () => {
  it('rewrites the server to the VIP and names everything after the cluster', () => {
    const result = adoptKubeconfig(RKE2_YAML, 'edge-site', '192.168.100.10');
    if (!result.ok) throw new Error(result.problem);
    expect(parse(result.kubeconfig)).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'edge-site',
          cluster: { 'certificate-authority-data': CA, server: 'https://192.168.100.10:6443' },
        },
      ],
      users: [
        {
          name: 'edge-site-admin',
          user: { 'client-certificate-data': 'Y2VydA==', 'client-key-data': 'a2V5' },
        },
      ],
      contexts: [
        { name: 'edge-site-admin@edge-site', context: { cluster: 'edge-site', user: 'edge-site-admin' } },
      ],
      'current-context': 'edge-site-admin@edge-site',
      preferences: {},
    });
  });

  it('brackets an IPv6 address', () => {
    const result = adoptKubeconfig(RKE2_YAML, 'edge-site', 'fd00::10');
    expect(result.ok && parse(result.kubeconfig).clusters[0].cluster.server).toBe('https://[fd00::10]:6443');
  });

  it.each([
    ['not YAML', '{', 'kubeconfig is not YAML'],
    ['not a Config', 'kind: Pod\n', 'kubeconfig: kind must be Config'],
    [
      'a file path for the client key',
      RKE2_YAML.replace('client-key-data: a2V5', 'client-key: /etc/shadow'),
      'kubeconfig: user.client-key is not accepted (inline credentials only)',
    ],
    [
      'an exec plugin',
      RKE2_YAML.replace('client-key-data: a2V5', 'exec: {command: /bin/sh}'),
      'kubeconfig: user.exec is not accepted (inline credentials only)',
    ],
    [
      'a CA file',
      RKE2_YAML.replace('certificate-authority-data:', 'certificate-authority: /etc/x\n    x:'),
      'kubeconfig: cluster.certificate-authority is not accepted (inline data only)',
    ],
    [
      'plain http',
      RKE2_YAML.replace('https://127.0.0.1', 'http://127.0.0.1'),
      'kubeconfig: cluster.server must be an https URL',
    ],
    [
      'no CA',
      RKE2_YAML.replace(CA, 'bm90IGEgY2VydA=='),
      'kubeconfig: cluster.certificate-authority-data must be a base64 PEM certificate',
    ],
    [
      'two clusters',
      RKE2_YAML.replace('clusters:\n', `clusters:\n- cluster: {server: 'https://x'}\n  name: other\n`),
      'kubeconfig: expected exactly one cluster',
    ],
    ['aliases', `${RKE2_YAML}x: &a [1]\ny: *a\n`, 'kubeconfig: YAML aliases are not accepted'],
    ['duplicate keys', `${RKE2_YAML}kind: Config\n`, 'kubeconfig is not YAML'],
    [
      'too large',
      `${RKE2_YAML}#${'x'.repeat(KUBECONFIG_MAX_BYTES)}\n`,
      `kubeconfig is larger than ${KUBECONFIG_MAX_BYTES} bytes`,
    ],
  ])('refuses %s', (_name, text, problem) => {
    const result = adoptKubeconfig(text, 'edge-site', '192.168.100.10');
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.problem).toContain(problem);
  });

  it('refuses an address that is neither an IP nor a host name', () => {
    expect(adoptKubeconfig(RKE2_YAML, 'edge-site', 'x/../y')).toEqual({
      ok: false,
      problem: 'not an address or host name: "x/../y"',
    });
  });
});
