import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { VENDOR_PROFILE_NAMES, type VendorProfileName } from '../../src/lab/index.ts';
import { withLab } from '../fixtures/redfish-lab.ts';

// Debian's interpreter, where python3-sushy lives (not a pyenv or venv python that may shadow it).
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./sushy_drive.py', import.meta.url));
const IMAGE = 'http://10.0.2.2:8080/media/host-1.iso';

/** The CD slot sushy is pointed at: what Ironic would pick for each vendor. */
const CD_SLOT: Record<VendorProfileName, (system: string) => string> = {
  generic: (s) => `${s}/VirtualMedia/Cd`,
  dell: (s) => `${s}/VirtualMedia/1`,
  hpe: () => '/redfish/v1/Managers/1/VirtualMedia/2',
  supermicro: () => '/redfish/v1/Managers/1/VirtualMedia/CD1',
  lenovo: () => '/redfish/v1/Managers/1/VirtualMedia/EXT1',
};

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe('python3-sushy drives the emulated BMCs', () => {
  for (const vendor of VENDOR_PROFILE_NAMES) {
    it(`${vendor}: insert media, boot override, power on and off, eject`, async () => {
      const lab = await withLab({ hosts: 1, backend: 'fake', vendor });
      stop = lab.stop;
      const host = lab.hosts[0]!;
      const url = new URL(host.bmcAddress.replace(/^[^:]+:/, 'http:'));
      const result = await execa(
        PYTHON,
        [SCRIPT, `http://${url.host}`, url.pathname, CD_SLOT[vendor](url.pathname), IMAGE],
        {
          env: {
            BMC_USERNAME: host.username,
            BMC_PASSWORD: host.password,
            BOOT_TARGET: vendor === 'supermicro' ? 'UsbCd' : 'Cd',
          },
          reject: false,
          timeout: 60_000,
        },
      );
      if (result.exitCode !== 0) throw new Error(`sushy failed (${result.exitCode}):\n${result.stderr}`);
      const seen = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(seen).toMatchObject({
        inserted: true,
        image: IMAGE,
        boot: { enabled: 'BootSourceOverrideEnabled.ONCE' },
        power_after_on: 'PowerState.ON',
        power_after_off: 'PowerState.OFF',
      });
      expect(seen.allowed_reset).toContain('ResetType.FORCE_OFF');
      // sushy 4.3.3 does not re-check after an eject: on the Dell profile it sees the stale Inserted
      // that iDRAC reports (our client ejects again; see client-vendors.test.ts).
      expect(seen.inserted_after_eject).toBe(vendor === 'dell');

      const status = lab.status(host.name);
      expect(status.boots).toEqual([expect.objectContaining({ device: 'cd', image: IMAGE })]);
      expect(status.power).toBe('Off');
      expect(status.sessions.created).toBeGreaterThanOrEqual(1);
    });
  }
});
