import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFaultSpec, startLab } from '../../src/lab/index.ts';
import { connectClient, withLab } from '../fixtures/redfish-lab.ts';

const IMAGE = 'http://10.0.2.2:8080/media/host-1.iso';
let stop: (() => Promise<void>) | undefined;

/** The lab restarts a machine asynchronously; wait (bounded) for what the test expects. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`timed out after 1 s waiting for ${what}`);
}
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe('fake-backend lab', () => {
  it('consumes a Once override at the first boot; a guest reboot then boots the disk', async () => {
    const lab = await withLab({ hosts: 2, backend: 'fake' });
    stop = lab.stop;
    const seen: string[] = [];
    lab.onBoot((host, boot) => seen.push(`${host.name}:${boot.device}`));
    const { client } = await connectClient(lab.hosts[1]!);
    await client.insertMedia(IMAGE);
    await client.setBootOnce('Cd');
    await client.power('on');
    lab.guestReboot('host-2');
    await until(() => lab.status('host-2').boots.length === 2, 'the boot after the guest reboot');
    expect(lab.status('host-2').power).toBe('On');
    lab.guestPowerOff('host-2');
    expect(await client.powerState()).toBe('Off');
    await client.close();
    expect(seen).toEqual(['host-2:cd', 'host-2:disk']);
    expect(lab.status('host-1').boots).toEqual([]);
  });

  it('keeps booting the override target while it is Continuous', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', vendor: 'generic' });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    const { client } = await connectClient(host);
    await client.insertMedia(IMAGE);
    await client.close();
    const url = new URL(host.bmcAddress.replace(/^[^:]+:/, 'http:'));
    const auth = `Basic ${Buffer.from(`${host.username}:${host.password}`).toString('base64')}`;
    const patch = await fetch(url, {
      method: 'PATCH',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Continuous' },
      }),
    });
    expect(patch.status).toBe(204);
    const reset = await fetch(`${url}/Actions/ComputerSystem.Reset`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ResetType: 'On' }),
    });
    expect(reset.status).toBe(204);
    lab.guestReboot(host.name);
    await until(() => lab.status(host.name).boots.length === 2, 'a second boot');
    expect(lab.status(host.name).boots.map((b) => b.device)).toEqual(['cd', 'cd']);
    expect(lab.status(host.name).bootOverride).toMatchObject({ enabled: 'Continuous', target: 'Cd' });
    const stale = await fetch(url, {
      method: 'PATCH',
      headers: { Authorization: auth, 'Content-Type': 'application/json', 'If-Match': '"not-the-etag"' },
      body: JSON.stringify({ Boot: { BootSourceOverrideEnabled: 'Disabled' } }),
    });
    expect(stale.status).toBe(412);
  });

  it('gives each host its own BMC, MAC and credentials, and reports state on its index', async () => {
    const lab = await withLab({ hosts: 3, backend: 'fake', vendor: 'dell' });
    stop = lab.stop;
    expect(new Set(lab.hosts.map((h) => h.bmcAddress)).size).toBe(3);
    expect(lab.hosts.map((h) => h.bootMac)).toEqual([
      '52:54:00:6c:00:01',
      '52:54:00:6c:00:02',
      '52:54:00:6c:00:03',
    ]);
    expect(new Set(lab.hosts.map((h) => h.password)).size).toBe(3);
    expect(lab.hosts[0]!.bmcAddress).toMatch(
      /^idrac-virtualmedia\+http:\/\/127\.0\.0\.1:\d+\/redfish\/v1\/Systems\/System\.Embedded\.1$/,
    );

    const index = (await (await fetch(lab.url)).json()) as { hosts: { name: string; power: string }[] };
    expect(index.hosts.map((h) => `${h.name}:${h.power}`)).toEqual([
      'host-1:Off',
      'host-2:Off',
      'host-3:Off',
    ]);
    expect(JSON.stringify(index)).not.toContain(lab.hosts[0]!.password);
    // Another host's password does not open this BMC.
    const wrong = await connectClient({ ...lab.hosts[0]!, password: lab.hosts[1]!.password }).catch(
      (e: unknown) => e,
    );
    expect((wrong as { status?: number }).status).toBe(401);
  });

  it('applies a fault only to the host and operation it names, as many times as asked', async () => {
    const lab = await withLab({
      hosts: 2,
      backend: 'fake',
      faults: [{ host: 'host-2', operation: 'reset', kind: 'server-error', count: 2 }],
    });
    stop = lab.stop;
    const one = await connectClient(lab.hosts[0]!);
    await one.client.power('on');
    await one.client.close();
    expect(one.events.filter((e) => e.type === 'retry')).toEqual([]);
    const two = await connectClient(lab.hosts[1]!);
    await two.client.power('on');
    await two.client.close();
    expect(two.events.filter((e) => e.type === 'retry').length).toBe(2);
  });

  it('parses fault specs from the command line', () => {
    expect(parseFaultSpec('host-1:insert-media:server-error:2')).toEqual({
      ok: true,
      value: { host: 'host-1', operation: 'insert-media', kind: 'server-error', count: 2 },
    });
    expect(parseFaultSpec('reset:busy')).toEqual({
      ok: true,
      value: { operation: 'reset', kind: 'busy', count: 1 },
    });
    expect(parseFaultSpec('reset:explode')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/kind must be one of/),
    });
    expect(parseFaultSpec('host-1:reset:busy:0')).toMatchObject({ ok: false });
  });

  it('keeps the BMC passwords of a state folder across restarts', async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'outpost-lab-test-'));
    try {
      const first = await startLab({ hosts: 2, backend: 'fake', stateDir });
      const passwords = first.hosts.map((h) => h.password);
      await first.close();
      const second = await startLab({ hosts: 3, backend: 'fake', stateDir });
      await second.close();
      expect(second.hosts.slice(0, 2).map((h) => h.password)).toEqual(passwords);
      expect(passwords[0]).toMatch(/^[\w-]{16}$/);
      expect((await stat(path.join(stateDir, 'bmc-credentials.json'))).mode & 0o777).toBe(0o600);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
