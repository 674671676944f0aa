import { describe, expect, it } from 'vitest';
import { provisionFigures } from '../../src/trial/figures.ts';

const UP = Date.parse('2026-11-29T12:00:00Z');
const at = (s: number) => new Date(UP + s * 1000).toISOString();
const provisioning = (start: number, installer: number, firstBoot: number, other: number) => ({
  state: 'provisioning',
  startedAt: at(start),
  durationMs: (installer + firstBoot + other) * 1000,
  result: 'succeeded',
  steps: [
    { step: 'prepare-media', durationMs: other * 1000, result: 'succeeded' },
    { step: 'installer', durationMs: installer * 1000, result: 'succeeded' },
    { step: 'first-boot', durationMs: firstBoot * 1000, result: 'succeeded' },
  ],
});

describe('provision figures', () => {
  it('per node time to Ready and the cluster against the image moves and boots of the same run', () => {
    const text = provisionFigures({
      image: { bytes: 3 * 2 ** 30, buildMs: 60_000 },
      upAt: UP,
      readyMs: 500_000,
      hosts: [
        {
          name: 'host-1',
          state: 'provisioned',
          role: 'server',
          initializer: true,
          readyMs: 250_000,
          timeline: [provisioning(0, 80, 100, 20)],
        },
        {
          name: 'host-2',
          state: 'provisioned',
          role: 'server',
          readyMs: 480_000,
          timeline: [provisioning(200, 90, 110, 0)],
        },
        {
          name: 'host-3',
          state: 'provisioned',
          role: 'agent',
          readyMs: 500_000,
          timeline: [provisioning(200, 100, 120, 0)],
        },
      ],
    });
    expect(text).toContain('host-1 (server, initializer): provisioned, provisioning 200.0 s');
    expect(text).toContain(
      '  outpost overhead 20.0 s beyond 180.0 s of image move and boots: ratio 1.111 (provisioning / image move + boots)',
    );
    // host-1: Ready 250 s after its start, 50 s after provisioned; 250 / 180.
    expect(text).toContain(
      '  node Ready 250.0 s after its provisioning started (RKE2 50.0 s after provisioned): ratio 1.389 (time to Ready / image move + boots)',
    );
    // Critical path: host-1's 180 s, then the slower joiner's 220 s.
    expect(text).toContain(
      'cluster: every node Ready 500.0 s after cluster up; image moves and boots on the critical path 400.0 s (the initializer, then the slowest joiner): ratio 1.250',
    );
  });

  it('the provisioning-only trial and a cluster that never became Ready', () => {
    const host = {
      name: 'host-1',
      state: 'provisioned',
      network: 'DHCP',
      timeline: [provisioning(0, 80, 100, 20)],
    };
    expect(
      provisionFigures({ image: { bytes: 2 ** 30, buildMs: 1000 }, provisioningMs: 200_000, hosts: [host] }),
    ).toMatch(/all hosts provisioned in 200\.0 s$/);
    expect(
      provisionFigures({
        image: { bytes: 2 ** 30, buildMs: 1000 },
        upAt: UP,
        error: 'timed out',
        hosts: [host],
      }),
    ).toMatch(/cluster: not Ready \(timed out\)$/);
  });
});
