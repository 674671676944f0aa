import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMING, workFor } from '../../src/service/lifecycle.ts';
import type { HostRecord } from '../../src/service/types.ts';

const host = (patch: Partial<HostRecord>): HostRecord => ({
  id: 'id',
  name: 'node-1',
  spec: {
    name: 'node-1',
    bmc: { address: 'redfish://x', disableCertificateVerification: false },
    role: 'server',
    online: true,
    labels: {},
  },
  state: 'provisioning',
  step: 'installer',
  stepStartedAt: 0,
  createdAt: 0,
  updatedAt: 0,
  ...patch,
});

describe('what the reconciler does for a host', () => {
  it('leaves a host with a permanent error alone, however long ago it failed', () => {
    const error = {
      type: 'provisioning error' as const,
      message: 'checksum mismatch',
      count: 1,
      nextAttemptAt: 0,
    };
    expect(
      workFor(host({ step: 'prepare-media', error: { ...error, permanent: true } }), 1e12, DEFAULT_TIMING),
    ).toEqual({ kind: 'none' });
    expect(workFor(host({ step: 'prepare-media', error }), 1e12, DEFAULT_TIMING)).toMatchObject({
      kind: 'step',
    });
  });

  it('waits for callbacks, or watches the BMC when the image cannot call back; both time out', () => {
    const provisioning = { image: 'site.iso', imageUrl: 'http://x/media/site.iso' };
    expect(workFor(host({ provisioning }), 1000, DEFAULT_TIMING)).toEqual({ kind: 'none' });
    expect(
      workFor(host({ provisioning: { ...provisioning, callbacks: false } }), 1000, DEFAULT_TIMING),
    ).toEqual({
      kind: 'step',
      state: 'provisioning',
      step: 'installer',
    });
    const late = DEFAULT_TIMING.callbackTimeoutMs + 1;
    for (const p of [provisioning, { ...provisioning, callbacks: false as const }])
      expect(workFor(host({ provisioning: p, step: 'first-boot' }), late, DEFAULT_TIMING)).toMatchObject({
        kind: 'timeout',
      });
  });
  it("reads a stable host's power state again every powerSyncMs", () => {
    const stable = host({ state: 'provisioned', step: '', updatedAt: 1000 });
    expect(workFor(stable, 1000 + DEFAULT_TIMING.powerSyncMs - 1, DEFAULT_TIMING)).toEqual({ kind: 'none' });
    expect(workFor(stable, 1000 + DEFAULT_TIMING.powerSyncMs, DEFAULT_TIMING)).toEqual({
      kind: 'refresh-power',
    });
    expect(
      workFor({ ...stable, powerCheckedAt: 5000 }, 1000 + DEFAULT_TIMING.powerSyncMs, DEFAULT_TIMING),
    ).toEqual({
      kind: 'none',
    });
    expect(workFor({ ...stable, powerRequest: 'off' }, 0, DEFAULT_TIMING)).toEqual({
      kind: 'power',
      action: 'off',
    });
  });
});

describe('no-callbacks provisioning meets cleaning and boot-disk', () => {
  const noCallbacks = { image: 'site.iso', imageUrl: 'http://x/media/site.iso', callbacks: false as const };

  it('runs boot-disk as a BMC step between the watched installer and first boot', () => {
    expect(workFor(host({ provisioning: noCallbacks, step: 'boot-disk' }), 1000, DEFAULT_TIMING)).toEqual({
      kind: 'step',
      state: 'provisioning',
      step: 'boot-disk',
    });
  });

  it("waits for the wipe ISO's callback even when the provisioned image could not call back", () => {
    const cleaning = host({ state: 'deprovisioning', step: 'cleaning', provisioning: noCallbacks });
    expect(workFor(cleaning, 1000, DEFAULT_TIMING)).toEqual({ kind: 'none' });
    expect(workFor(cleaning, DEFAULT_TIMING.callbackTimeoutMs + 1, DEFAULT_TIMING)).toMatchObject({
      kind: 'timeout',
    });
  });

  it('runs a skipped cleaning step at once (automatedCleaningMode: disabled)', () => {
    const skipped = host({ state: 'deprovisioning', step: 'cleaning' });
    skipped.spec = { ...skipped.spec, automatedCleaningMode: 'disabled' };
    expect(workFor(skipped, 1000, DEFAULT_TIMING)).toEqual({
      kind: 'step',
      state: 'deprovisioning',
      step: 'cleaning',
    });
  });

  it('never syncs power in the middle of cleaning (only available and provisioned hosts)', () => {
    const late = DEFAULT_TIMING.powerSyncMs * 10;
    for (const step of ['power-on-cleaning', 'cleaning', 'power-off-cleaned'] as const)
      expect(workFor(host({ state: 'deprovisioning', step }), late, DEFAULT_TIMING).kind).not.toBe(
        'refresh-power',
      );
  });
});
