import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import type { LabHost } from '../../src/lab/index.ts';
import { withLab } from '../fixtures/redfish-lab.ts';

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

/** Runs redfishtool against a lab host over plain HTTP (the lab's throwaway password goes on its command line). */
async function redfishtool(host: LabHost, auth: 'Session' | 'Basic', ...args: string[]) {
  const url = new URL(host.bmcAddress.replace(/^[^:]+:/, 'http:'));
  return execa(
    'redfishtool',
    ['-r', url.host, '-u', host.username, '-p', host.password, '-S', 'Never', '-A', auth, ...args],
    {
      reject: false,
      timeout: 60_000,
    },
  );
}

describe('redfishtool drives the emulated BMCs', () => {
  it('generic: boot override, power on, insert media, and reads them back', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', vendor: 'generic' });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    const system = new URL(host.bmcAddress.replace(/^[^:]+:/, 'http:')).pathname;
    const image = 'http://10.0.2.2:8080/media/host-1.iso';

    const insert = await redfishtool(
      host,
      'Session',
      'raw',
      'POST',
      `${system}/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia`,
      '-d',
      JSON.stringify({ Image: image }),
    );
    expect(insert.exitCode, insert.stderr).toBe(0);
    const boot = await redfishtool(host, 'Session', 'Systems', '-1', 'setBootOverride', 'Once', 'Cd');
    expect(boot.exitCode, boot.stderr).toBe(0);
    const on = await redfishtool(host, 'Basic', 'Systems', '-1', 'reset', 'On');
    expect(on.exitCode, on.stderr).toBe(0);

    const power = await redfishtool(host, 'Basic', 'Systems', '-1', '-P', 'PowerState', 'get');
    expect(JSON.parse(power.stdout)).toEqual({ PowerState: 'On' });
    const slot = await redfishtool(host, 'Basic', 'raw', 'GET', `${system}/VirtualMedia/Cd`);
    expect(JSON.parse(slot.stdout)).toMatchObject({ Image: image, Inserted: true });
    expect(lab.status(host.name).boots).toEqual([expect.objectContaining({ device: 'cd', image })]);

    const off = await redfishtool(host, 'Basic', 'Systems', '-1', 'reset', 'ForceOff');
    expect(off.exitCode, off.stderr).toBe(0);
    expect(lab.status(host.name).power).toBe('Off');
  });

  it('dell: power and boot override through the System, media through its System-side slot', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', vendor: 'dell' });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    const image = 'http://10.0.2.2:8080/media/host-1.iso';
    const insert = await redfishtool(
      host,
      'Session',
      'raw',
      'POST',
      '/redfish/v1/Systems/System.Embedded.1/VirtualMedia/1/Actions/VirtualMedia.InsertMedia',
      '-d',
      JSON.stringify({ Image: image }),
    );
    expect(insert.exitCode, insert.stderr).toBe(0);
    expect(
      (await redfishtool(host, 'Session', 'Systems', '-1', 'setBootOverride', 'Once', 'Cd')).exitCode,
    ).toBe(0);
    expect((await redfishtool(host, 'Session', 'Systems', '-1', 'reset', 'On')).exitCode).toBe(0);
    expect(lab.status(host.name).boots).toEqual([expect.objectContaining({ device: 'cd', image })]);
  });

  it('hpe: the emulated iLO refuses a weak ETag in If-Match with 412, as redfishtool sends it', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', vendor: 'hpe' });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    const result = await redfishtool(host, 'Session', 'Systems', '-1', 'setBootOverride', 'Once', 'Cd');
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/412/);
    expect(lab.status(host.name).bootOverride.enabled).toBe('Disabled');
  });
});
