import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assembleBundle } from '../../src/build/assemble-bundle.ts';
import { tempDir } from '../definition/fixtures.ts';
import { EXAMPLE_KEY, exampleConfigDir, load } from './helpers.ts';
import { ignitionFilesStage, ignitionValidate } from './ignition-run.ts';

/**
 * The example plus os-files and a CA certificate. `offline` drops template instances from the enable
 * list: Ignition 2.14 asks the running systemd how to enable `name@instance` units, and there is no
 * systemd in this offline run (a real first boot has one).
 */
async function exampleWithOsFiles(offline = false) {
  const edit = (def: { operatingSystem: { systemd: { enable: string[] } } }) => {
    if (offline)
      def.operatingSystem.systemd.enable = def.operatingSystem.systemd.enable.filter((u) => !u.includes('@'));
  };
  const cfg = await exampleConfigDir(edit, {
    'os-files/etc/outpost/site.conf': 'site=example\n',
    'certificates/site-ca.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  });
  try {
    return await assembleBundle(await load(cfg.dir), { engine: 'systemd' });
  } finally {
    await cfg.remove();
  }
}

describe('Ignition config', () => {
  it('passes ignition-validate without warnings', async () => {
    const bundle = await exampleWithOsFiles();
    const config = JSON.parse(bundle.ignitionConfig);
    expect(config.ignition.version).toBe('3.3.0');
    expect(config.systemd.units).toContainEqual({ name: 'serial-getty@ttyS0.service', enabled: true });
    const r = await ignitionValidate(bundle.ignitionConfig);
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it("Debian's Ignition files stage creates the users, files and units", { timeout: 60_000 }, async () => {
    const bundle = await exampleWithOsFiles(true);
    const root = await tempDir('outpost-ign-root-');
    try {
      await ignitionFilesStage(bundle.ignitionConfig, root.dir);
      const r = (rel: string) => readFile(path.join(root.dir, rel), 'utf8');
      expect(await r('etc/group')).toMatch(/^edgeops:x:2001:$/m);
      expect(await r('etc/passwd')).toMatch(/^edge:x:2001:2001::\/home\/edge:/m);
      expect(await r('etc/shadow')).toMatch(/^edge:\$6\$kb\/\/OHCwzA02CK5D\$/m);
      // Ignition keeps its keys in a drop-in that its sshd config snippet reads.
      expect((await r('home/edge/.ssh/authorized_keys.d/ignition')).trim()).toBe(EXAMPLE_KEY);
      expect(await r('etc/outpost/site.conf')).toBe('site=example\n');
      expect((await stat(path.join(root.dir, 'combustion/script'))).mode & 0o777).toBe(0o755);
      expect(await r('combustion/site-name')).toBe('example-site\n');
      expect(await r('etc/systemd/system/outpost-firstboot.service')).toBe(bundle.firstbootUnit.content);
      const preset = await r('etc/systemd/system-preset/20-ignition.preset');
      expect(preset).toContain('enable fstrim.timer');
      expect(preset).toContain('enable outpost-firstboot.service');
      expect(preset).toContain('disable apt-daily.timer');
      const masked = path.join(root.dir, 'etc/systemd/system/apt-daily.timer');
      expect((await lstat(masked)).isSymbolicLink()).toBe(true);
      expect(await readlink(masked)).toBe('/dev/null');
    } finally {
      await root.remove();
    }
  });
});
