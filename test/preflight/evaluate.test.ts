import { describe, expect, it } from 'vitest';
import { type CheckResult, evaluate, exitCode, type Facts, THRESHOLDS } from '../../src/preflight/index.ts';

/* The pure rules of `outpost preflight`: fixed facts in, pass/warn/fail out. */

const GiB = 2 ** 30;

function facts(overrides: Partial<Facts> = {}): Facts {
  return {
    cpu: { cores: 8, model: 'Test CPU' },
    memory: { totalBytes: 16 * GiB, availableBytes: 12 * GiB },
    disks: [
      { role: 'state', dir: '/var/lib/outpost', measured: '/var/lib/outpost', freeBytes: 50 * GiB },
      { role: 'media', dir: '/var/lib/outpost/media', measured: '/var/lib/outpost', freeBytes: 50 * GiB },
    ],
    nics: [
      { name: 'lo', addresses: ['127.0.0.1', '::1'], up: true, internal: true },
      { name: 'eth0', addresses: ['10.0.0.2', 'fe80::1%eth0'], up: true, internal: false },
    ],
    advertise: { url: 'http://mgmt.site:8080', host: 'mgmt.site', addresses: ['10.0.0.2'] },
    ports: [{ port: 8080, free: true }],
    tools: [
      { name: 'xorriso', usedBy: 'service', package: 'xorriso', found: true, version: 'xorriso 1.5.4' },
      { name: 'btrfs', usedBy: 'build', package: 'btrfs-progs', found: true, version: 'btrfs-progs v6.2' },
    ],
    clock: { source: 'timedatectl', synchronized: true },
    bmcs: [
      {
        host: 'node-1',
        address: 'redfish-virtualmedia://10.0.1.5/redfish/v1/Systems/1',
        tcp: { ok: true, ms: 3 },
        redfish: { ok: true, status: 200, version: '1.17.0' },
      },
    ],
    ...overrides,
  };
}

const byName = (results: CheckResult[], name: string) => results.find((r) => r.name === name)!;

describe('preflight rules', () => {
  it('passes a well-equipped node (exit 0)', () => {
    const results = evaluate(facts());
    expect(results.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(exitCode(results)).toBe(0);
    expect(byName(results, 'bmc node-1').detail).toContain('Redfish 1.17.0');
    expect(byName(results, 'advertise-url').detail).toContain('10.0.0.2 (local)');
  });

  it('grades CPU, memory and disk on the documented thresholds', () => {
    const cases: [Partial<Facts>, string, string][] = [
      [{ cpu: { cores: THRESHOLDS.cpuFail - 1, model: '' } }, 'cpu', 'fail'],
      [{ cpu: { cores: THRESHOLDS.cpuWarn - 1, model: '' } }, 'cpu', 'warn'],
      [{ cpu: { cores: THRESHOLDS.cpuWarn, model: '' } }, 'cpu', 'pass'],
      [{ memory: { totalBytes: THRESHOLDS.memoryFail - 1, availableBytes: GiB } }, 'memory', 'fail'],
      [{ memory: { totalBytes: THRESHOLDS.memoryWarn - 1, availableBytes: 2 * GiB } }, 'memory', 'warn'],
      [{ memory: { totalBytes: 16 * GiB, availableBytes: THRESHOLDS.availableWarn - 1 } }, 'memory', 'warn'],
    ];
    for (const [override, name, status] of cases)
      expect(byName(evaluate(facts(override)), name).status).toBe(status);
    const disk = (role: 'state' | 'media', freeBytes?: number) =>
      byName(
        evaluate(facts({ disks: [{ role, dir: '/d', measured: '/', freeBytes, error: 'EACCES' }] })),
        `disk ${role}`,
      );
    expect(disk('state', THRESHOLDS.stateFail - 1).status).toBe('fail');
    expect(disk('state', THRESHOLDS.stateWarn - 1).status).toBe('warn');
    expect(disk('media', THRESHOLDS.mediaFail - 1).status).toBe('fail');
    expect(disk('media', THRESHOLDS.mediaWarn).status).toBe('pass');
    expect(disk('media', THRESHOLDS.mediaWarn).detail).toContain('/d (not there yet; measured /)');
    expect(disk('state', undefined)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('EACCES'),
    });
  });

  it('judges the advertise URL against the node addresses', () => {
    const advertise = (addresses: string[], error?: string) =>
      byName(
        evaluate(facts({ advertise: { url: 'http://m:8080', host: 'm', addresses, error } })),
        'advertise-url',
      );
    expect(advertise(['10.9.9.9']).status).toBe('fail');
    expect(advertise(['10.9.9.9']).detail).toContain('not an address of this node');
    expect(advertise([], 'ENOTFOUND').status).toBe('fail');
    expect(advertise(['127.0.0.1']).status).toBe('warn');
    expect(advertise(['::ffff:10.0.0.2']).status).toBe('pass');
    expect(byName(evaluate(facts({ advertise: undefined })), 'advertise-url').status).toBe('warn');
    expect(
      byName(
        evaluate(facts({ nics: [{ name: 'lo', addresses: ['127.0.0.1'], up: true, internal: true }] })),
        'network interfaces',
      ).status,
    ).toBe('fail');
  });

  it('fails a taken port and a missing service tool; a missing build tool or an unknown clock only warns', () => {
    const results = evaluate(
      facts({
        ports: [{ port: 8080, free: false, detail: 'another program listens on it' }],
        tools: [
          { name: 'xorriso', usedBy: 'service', package: 'xorriso', found: false },
          { name: 'btrfs', usedBy: 'build', package: 'btrfs-progs', found: false },
        ],
        clock: {},
      }),
    );
    expect(byName(results, 'port 8080')).toMatchObject({
      status: 'fail',
      detail: 'in use: another program listens on it',
    });
    expect(byName(results, 'tool xorriso')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining("Debian's xorriso"),
    });
    expect(byName(results, 'tool btrfs').status).toBe('warn');
    expect(byName(results, 'clock')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/unknown/),
    });
    expect(
      byName(evaluate(facts({ clock: { source: 'chronyc', synchronized: false } })), 'clock').status,
    ).toBe('warn');
    expect(exitCode(results)).toBe(1);
  });

  it('fails a BMC that refuses TCP, one whose Redfish root does not answer, and a non-Redfish address', () => {
    const bmc = (b: Partial<Facts['bmcs'][number]>) =>
      evaluate(facts({ bmcs: [{ host: 'h', address: 'redfish://10.0.1.9', ...b }] })).at(-1)!;
    expect(bmc({ tcp: { ok: false, ms: 1, error: 'ECONNREFUSED' } })).toMatchObject({
      name: 'bmc h',
      status: 'fail',
      detail: 'redfish://10.0.1.9: TCP connect failed: ECONNREFUSED',
    });
    expect(bmc({ tcp: { ok: true, ms: 1 }, redfish: { ok: false, status: 503 } }).detail).toContain(
      'Redfish service root: HTTP 503',
    );
    expect(bmc({ error: 'IPMI is not supported' }).status).toBe('fail');
  });
});
