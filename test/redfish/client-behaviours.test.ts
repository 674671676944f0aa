import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, eventText, withLab } from '../fixtures/redfish-lab.ts';

// The lab's behaviour profiles (src/lab/profiles.ts), each a way real BMCs differ from the happy path.
const IMAGE = 'http://10.0.2.2:8080/media/host-1.iso';
let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

async function connect(vendor: Parameters<typeof withLab>[0]['vendor']) {
  const lab = await withLab({ hosts: 1, backend: 'fake', vendor });
  stop = lab.stop;
  const host = lab.hosts[0]!;
  return { lab, host, ...(await connectClient(host)) };
}

const warnings = (events: { type: string; message: string }[]) =>
  events.filter((e) => e.type === 'warning').map((e) => e.message);

describe('Redfish client against the lab behaviour profiles', () => {
  it('sparse-inventory: linked collections that answer 404 are unknown, with a warning each', async () => {
    const { client, events, host } = await connect('sparse-inventory');
    const inventory = await client.inspect();
    expect(inventory.cpu).toBeUndefined();
    expect(inventory.ramMebibytes).toBeUndefined();
    expect(inventory.storage).toBeUndefined();
    expect(inventory.unknown).toEqual(['cpu', 'ramMebibytes', 'storage']);
    expect(inventory.nics.map((n) => n.mac)).toContain(host.bootMac);
    const text = warnings(events).join('\n');
    expect(text).toMatch(/Processors .* could not be read, recorded as unknown: .*HTTP 404/);
    expect(text).toMatch(/Memory .* could not be read/);
    expect(text).toMatch(/Drive .*Drives\/Disk1 could not be read/);
    expect(text).toMatch(/SimpleStorage .* could not be read/);
    await client.close();
  });

  it('failing-inventory: Storage 404 falls back to SimpleStorage; Memory 500 is retried, then unknown', async () => {
    const { client, events } = await connect('failing-inventory');
    const inventory = await client.inspect();
    expect(inventory.ramMebibytes).toBeUndefined();
    expect(inventory.unknown).toEqual(['ramMebibytes']);
    expect(inventory.storage?.length).toBeGreaterThan(0);
    expect(inventory.cpu?.count).toBe(1);
    const text = warnings(events).join('\n');
    expect(text).toMatch(/Storage .*\/Storage\) could not be read, recorded as unknown: .*HTTP 404/);
    expect(text).toMatch(/Memory .* could not be read, recorded as unknown: .*HTTP 500/);
    expect(events.some((e) => e.type === 'retry')).toBe(true);
    await client.close();
  });

  it('multi-socket: counts the threads of present CPUs only (no empty socket, no FPGA)', async () => {
    const { client } = await connect('multi-socket');
    expect((await client.inspect()).cpu).toEqual({
      count: 16,
      model: 'Multi-Core Intel(R) Xeon(R) processor 7xxx Series',
      clockMegahertz: 3700,
      arch: 'x86_64',
    });
    await client.close();
  });

  for (const vendor of ['boot-continuous', 'boot-once-refused'] as const) {
    it(`${vendor}: accepts a Continuous CD override with a warning, then sets the disk back`, async () => {
      const { client, events, lab, host } = await connect(vendor);
      await client.insertMedia(IMAGE);
      expect(await client.setBootOnce('Cd')).toBe('Continuous');
      expect(lab.status(host.name).bootOverride).toMatchObject({ enabled: 'Continuous', target: 'Cd' });
      expect(warnings(events).join('\n')).toMatch(
        vendor === 'boot-continuous'
          ? /asked for Cd\/Once, the BMC reports Cd\/Continuous; accepted/
          : /refused a Once boot override/,
      );
      await client.power('on');
      await client.power('off');
      await client.power('on');
      // Continuous: every boot takes the CD until the disk is set back.
      expect(lab.status(host.name).boots.map((b) => b.device)).toEqual(['cd', 'cd']);
      await client.power('off');
      await client.setBootDisk();
      expect(await client.bootOverride()).toEqual({ enabled: 'Continuous', target: 'Hdd' });
      await client.power('on');
      expect(lab.status(host.name).boots.map((b) => b.device)).toEqual(['cd', 'cd', 'disk']);
      await client.close();
    });
  }

  it('patch-no-allow: slots without actions and without an Allow header are PATCHed', async () => {
    const { client, events, lab, host } = await connect('patch-no-allow');
    await client.insertMedia(IMAGE);
    expect(
      lab
        .status(host.name)
        .media.filter((m) => m.inserted)
        .map((m) => m.image),
    ).toEqual([IMAGE]);
    expect(eventText(events)).toMatch(/has no InsertMedia action and no Allow header; inserting with PATCH/);
    await client.ejectMedia();
    expect(lab.status(host.name).media.every((m) => !m.inserted)).toBe(true);
    expect(eventText(events)).toMatch(/has no EjectMedia action and no Allow header; ejecting with PATCH/);
    await client.close();
  });
});
