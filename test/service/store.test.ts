import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  afterStep,
  backoffDelay,
  DEFAULT_TIMING,
  FLOWS,
  leftOnBmc,
  refuseAction,
  workFor,
} from '../../src/service/lifecycle.ts';
import { Store } from '../../src/service/store.ts';
import { Transitions } from '../../src/service/transitions.ts';
import type { HostRecord, HostSpec, HostState, HostStep } from '../../src/service/types.ts';
import { tempDir } from './helpers.ts';

const tmp = tempDir('store');
afterAll(() => tmp.cleanup());

const spec = (name: string): HostSpec => ({
  name,
  bmc: {
    address: 'redfish-virtualmedia+http://127.0.0.1:1/redfish/v1/Systems/1',
    disableCertificateVerification: false,
  },
  role: 'server',
  online: true,
  labels: {},
});

describe('store', () => {
  it('keeps hosts, events and operation history across a reopen, in WAL mode with a schema version', () => {
    const file = path.join(tmp.dir, 'a.db');
    const store = new Store(file);
    const t = new Transitions(store);
    let host = t.create(spec('h1'));
    host = t.stepSucceeded(host, { powerState: 'Off' }, 'ok');
    store.close();

    const again = new Store(file);
    const loaded = again.getHost('h1')!;
    expect(loaded).toMatchObject({ name: 'h1', state: 'inspecting', step: 'inspect', powerState: 'Off' });
    expect(again.events({ host: 'h1' }).map((e) => e.reason)).toEqual(['Registered', 'InspectionStarted']);
    expect(again.operations('h1').map((o) => [o.state, o.step, o.result])).toEqual([
      ['registering', '', 'succeeded'],
      ['registering', 'connect', 'succeeded'],
      ['inspecting', '', 'running'],
      ['inspecting', 'inspect', 'running'],
    ]);
    again.close();
    // Checked with the sqlite3 shell's view of the file, independently of our code.
    const py = spawnSync('python3', [
      '-c',
      'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("pragma journal_mode").fetchone()[0]); print(c.execute("select value from meta where key=\'schemaVersion\'").fetchone()[0])',
      file,
    ]);
    expect(py.stdout.toString().split('\n').slice(0, 2)).toEqual(['wal', '1']);
  });

  it('rolls back a failed transaction completely: no half-written state change', () => {
    const store = new Store(path.join(tmp.dir, 'b.db'));
    const t = new Transitions(store);
    const host = t.create(spec('h2'));
    expect(() =>
      store.transaction(() => {
        t.stepSucceeded(host, {}, 'ok');
        throw new Error('crash in the middle');
      }),
    ).toThrow('crash in the middle');
    expect(store.getHost('h2')).toMatchObject({ state: 'registering', step: 'connect' });
    expect(store.operations('h2').filter((o) => o.result === 'succeeded')).toEqual([]);
    expect(store.events({ host: 'h2' }).map((e) => e.reason)).toEqual(['Registered']);
    store.close();
  });

  it('refuses a database from a newer outpost', () => {
    const file = path.join(tmp.dir, 'c.db');
    new Store(file).close();
    spawnSync('python3', [
      '-c',
      'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("update meta set value=\'99\'"); c.commit()',
      file,
    ]);
    expect(() => new Store(file)).toThrow(/schema version 99, newer than this outpost understands/);
  });

  it('records an error with a count and exponential backoff, and clears it on success', () => {
    const store = new Store(path.join(tmp.dir, 'd.db'));
    const t = new Transitions(store);
    const timing = { ...DEFAULT_TIMING, backoffBaseMs: 1000, backoffMaxMs: 5000 };
    let host = t.create(spec('h3'));
    host = t.stepFailed(host, 'HTTP 401', timing, { now: 10_000 });
    host = t.stepFailed(host, 'HTTP 401', timing, { now: 20_000 });
    expect(host.error).toEqual({
      type: 'registration error',
      message: 'HTTP 401',
      count: 2,
      nextAttemptAt: 22_000,
    });
    expect(workFor(host, 21_999, timing).kind).toBe('none');
    expect(workFor(host, 22_000, timing)).toEqual({ kind: 'step', state: 'registering', step: 'connect' });
    host = t.stepSucceeded(host);
    expect(host.error).toBeUndefined();
    expect(store.events({ host: 'h3' }).filter((e) => e.level === 'Warning')).toHaveLength(2);
    store.close();
  });
});

describe('lifecycle', () => {
  it('walks registering -> inspecting -> available and provisioning -> provisioned step by step', () => {
    expect(afterStep('registering', 'connect')).toEqual({ state: 'inspecting', step: 'inspect' });
    expect(afterStep('inspecting', 'inspect')).toEqual({ state: 'available', step: '' });
    const walk: string[] = [];
    let at: { state: HostState; step: HostStep } = { state: 'provisioning', step: FLOWS.provisioning[0] };
    while (at.state === 'provisioning') {
      walk.push(at.step);
      at = afterStep(at.state, at.step);
    }
    expect(walk).toEqual([
      'power-off',
      'prepare-media',
      'insert-media',
      'boot-once',
      'power-on',
      'installer',
      'boot-disk',
      'first-boot',
      'eject-media',
    ]);
    expect(at).toEqual({ state: 'provisioned', step: '' });
    expect(afterStep('deprovisioning', 'eject-media')).toEqual({
      state: 'deprovisioning',
      step: 'prepare-cleaning',
    });
    expect(afterStep('deprovisioning', 'eject-cleaning-media')).toEqual({ state: 'available', step: '' });
  });

  it('backs off exponentially up to a cap', () => {
    const timing = { ...DEFAULT_TIMING, backoffBaseMs: 10_000, backoffMaxMs: 600_000 };
    expect([1, 2, 3, 4, 10].map((n) => backoffDelay(n, timing))).toEqual([
      10_000, 20_000, 40_000, 80_000, 600_000,
    ]);
  });

  it('waits for callbacks until their timeout, and accepts actions only in the right states', () => {
    const base: HostRecord = {
      id: 'x',
      name: 'h',
      spec: spec('h'),
      state: 'provisioning',
      step: 'installer',
      stepStartedAt: 0,
      createdAt: 0,
      updatedAt: 0,
    };
    const timing = { ...DEFAULT_TIMING, callbackTimeoutMs: 1000 };
    expect(workFor(base, 1000, timing).kind).toBe('none');
    expect(workFor(base, 1001, timing).kind).toBe('timeout');
    expect(refuseAction('provision', base)).toMatch(/only an available host can be provisioned/);
    expect(refuseAction('deprovision', base)).toBeUndefined();
    expect(refuseAction('delete', { ...base, state: 'provisioned' })).toMatch(/deprovision it first/);
    expect(refuseAction('power', { ...base, state: 'available', step: '' })).toBeUndefined();
  });

  it("a forced delete names the media it may leave inserted, never the URL of the host's own ISO", () => {
    const iso = 'hosts/0123456789abcdef0123456789abcdef.iso';
    const host: HostRecord = {
      id: 'x',
      name: 'h',
      spec: spec('h'),
      state: 'provisioning',
      step: 'installer',
      stepStartedAt: 0,
      createdAt: 0,
      updatedAt: 0,
      powerState: 'On',
      provisioning: { image: 'site.raw', imageUrl: `http://10.0.0.1:8080/media/${iso}`, installerIso: iso },
    };
    const media = (h: HostRecord) => leftOnBmc(h).find((line) => line.startsWith('virtual media'));
    expect(media(host)).toBe(
      "virtual media possibly still inserted: this host's installer ISO (deleted with the host)",
    );
    // Deprovisioning: before cleaning inserts its ISO, the provisioning media; from then on, the cleaning ISO.
    expect(media({ ...host, state: 'deprovisioning', step: 'eject-media' })).toMatch(/installer ISO/);
    for (const step of ['insert-cleaning-media', 'cleaning', 'eject-cleaning-media'] as const) {
      expect(media({ ...host, state: 'deprovisioning', step })).toMatch(/this host's cleaning ISO/);
    }
    for (const h of [host, { ...host, state: 'deprovisioning' as const, step: 'cleaning' as const }]) {
      expect(leftOnBmc(h).join('\n')).not.toContain('0123456789abcdef');
    }
    // An ISO inserted as it is: its URL says which one to eject.
    const asIs = { image: 'site.iso', imageUrl: 'http://10.0.0.1:8080/media/site.iso' };
    expect(media({ ...host, provisioning: asIs })).toBe(
      'virtual media http://10.0.0.1:8080/media/site.iso possibly still inserted',
    );
    expect(leftOnBmc({ ...host, state: 'available', step: '', provisioning: undefined })).toEqual([]);
  });
});
