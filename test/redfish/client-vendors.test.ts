import { afterEach, describe, expect, it } from 'vitest';
import { VENDOR_PROFILE_NAMES } from '../../src/lab/index.ts';
import { connectClient, eventText, withLab } from '../fixtures/redfish-lab.ts';

const IMAGE = 'http://10.0.2.2:8080/media/host-1.iso';
let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe('Redfish client against every vendor profile of the lab', () => {
  for (const vendor of VENDOR_PROFILE_NAMES) {
    it(`${vendor}: inspects, inserts media, boots once from CD, powers, ejects, deletes its session`, async () => {
      const lab = await withLab({ hosts: 1, backend: 'fake', vendor });
      stop = lab.stop;
      const host = lab.hosts[0]!;
      const { client, events } = await connectClient(host);

      const inventory = await client.inspect();
      expect(inventory.systemVendor.serialNumber).toBe('LAB00001');
      expect(inventory.nics.map((n) => n.mac)).toContain(host.bootMac);
      expect(inventory.cpu).toEqual({
        count: 1,
        model: 'QEMU TCG CPU (max)',
        clockMegahertz: 2000,
        arch: 'x86_64',
      });
      expect(inventory.ramMebibytes).toBe(32 * 1024);
      expect(inventory.storage).toEqual([
        expect.objectContaining({ sizeBytes: 480 * 1024 ** 3, rotational: false, type: 'SSD' }),
      ]);
      expect(inventory.firmware.bmc?.version).toBeTruthy();
      expect(inventory.bootMode).toBe('UEFI');

      await client.insertMedia(IMAGE);
      await client.setBootOnce('Cd');
      const before = lab.status(host.name);
      expect(before.media.filter((m) => m.inserted).map((m) => m.image)).toEqual([IMAGE]);
      expect(before.bootOverride.enabled).toBe('Once');
      await client.power('on');
      expect(await client.powerState()).toBe('On');
      const after = lab.status(host.name);
      expect(after.boots).toEqual([expect.objectContaining({ device: 'cd', image: IMAGE })]);
      // Firmware consumes a Once override at boot.
      expect(after.bootOverride.enabled).toBe('Disabled');

      await client.power('on'); // already on: no error
      await client.power('off');
      expect(await client.powerState()).toBe('Off');
      await client.ejectMedia();
      expect(lab.status(host.name).media.every((m) => !m.inserted)).toBe(true);
      await client.close();

      const sessions = lab.status(host.name).sessions;
      expect(sessions).toEqual({ active: 0, created: 1, deleted: 1 });
      expect(eventText(events)).not.toContain(host.password);

      // The quirk the profile reproduces was met and handled.
      const text = eventText(events);
      if (vendor === 'supermicro') {
        expect(before.bootOverride.target).toBe('UsbCd');
        expect(text).toContain('TransferProtocolType');
      }
      if (vendor === 'dell') expect(text).toMatch(/still reports Inserted after eject/);
      if (vendor === 'dell') expect(text).toMatch(/task monitor/);
      if (vendor === 'hpe') expect(text).toMatch(/412/);
      if (vendor === 'lenovo') {
        expect(text).toMatch(/RDOC1 did not take the image/);
        expect(text).toMatch(/inserted image into .*EXT1/);
      }
      if (vendor === 'generic') expect(before.bootOverride.target).toBe('Cd');
    });
  }

  it('finds the only System when the address has no System path', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', vendor: 'hpe' });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    const bare = { ...host, bmcAddress: host.bmcAddress.replace(/\/redfish\/v1\/Systems\/.*$/, '') };
    const { client } = await connectClient(bare);
    expect(client.systemPath).toBe('/redfish/v1/Systems/1');
    await client.close();
  });

  it('reboots through ForceRestart (the lab boots the next device) and powers off softly', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', vendor: 'generic' });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    const { client } = await connectClient(host);
    await client.insertMedia(IMAGE);
    await client.setBootOnce('Cd');
    await client.power('on');
    await client.power('reboot');
    await client.power('soft-off');
    expect(await client.powerState()).toBe('Off');
    await client.power('reboot'); // from off: a power-on
    await client.close();
    expect(lab.status(host.name).boots.map((b) => b.device)).toEqual(['cd', 'disk', 'disk']);
  });
});

describe('Redfish client on BMC models outside the built-in profiles', () => {
  it('widens InsertMedia step by step: TransferMethod, then credentials, then TransferProtocolType', async () => {
    const lab = await withLab({
      hosts: 1,
      backend: 'fake',
      profileOverrides: { insertRequires: ['TransferMethod', 'UserName', 'TransferProtocolType'] },
    });
    stop = lab.stop;
    const { client, events } = await connectClient(lab.hosts[0]!);
    await client.insertMedia(IMAGE);
    await client.close();
    const widened = events.filter((e) => e.type === 'fallback' && /InsertMedia rejected/.test(e.message));
    expect(widened.map((e) => e.message)).toEqual([
      'InsertMedia rejected; retrying with Image, TransferMethod',
      'InsertMedia rejected; retrying with Image, TransferMethod, UserName, Password',
      'InsertMedia rejected; retrying with Image, TransferMethod, UserName, Password, TransferProtocolType',
    ]);
    expect(lab.status('host-1').media[0]).toMatchObject({ image: IMAGE, inserted: true });
  });

  it('power-cycles for a reboot when ForceRestart is not allowed, and refuses a ResetType the BMC lacks', async () => {
    const lab = await withLab({
      hosts: 1,
      backend: 'fake',
      profileOverrides: { resetTypes: ['ForceOn', 'ForceOff'] },
    });
    stop = lab.stop;
    const { client } = await connectClient(lab.hosts[0]!);
    await client.power('on'); // On is not offered: ForceOn instead
    await client.power('reboot');
    expect(lab.status('host-1').boots.length).toBe(2);
    const error = await client.power('soft-off').catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      /does not allow ResetType GracefulShutdown \(allowed: ForceOn, ForceOff\)/,
    );
    await client.close();
  });

  it('refuses a boot target the BMC does not list, naming the ones it does', async () => {
    const lab = await withLab({
      hosts: 1,
      backend: 'fake',
      profileOverrides: { bootTargets: ['None', 'Pxe', 'Hdd'] },
    });
    stop = lab.stop;
    const { client } = await connectClient(lab.hosts[0]!);
    const error = await client.setBootOnce('Cd').catch((e: unknown) => e);
    await client.close();
    expect((error as Error).message).toMatch(/does not allow target Cd \(allowed: None, Pxe, Hdd\)/);
    expect(lab.status('host-1').bootOverride.enabled).toBe('Disabled');
  });
});
