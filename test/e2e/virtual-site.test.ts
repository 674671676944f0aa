import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLOWS } from '../../src/service/lifecycle.ts';
import { formatTrial, runTrial } from '../../src/trial/index.ts';
import { copyExampleConfigDir } from './support/example-image.ts';

/*
 * Covers README.md's quick start `bash scripts/install-deps.sh && npm install && npm run example`: CI runs
 * the first two (.ci/run); `npm run example` (scripts/example.js) runs `outpost trial` on example.yaml,
 * which is this same trial of the example (two servers, one static, one on DHCP).
 *
 * The whole flow on one machine: the example built against the Debian fixture, `outpost serve`'s service,
 * a lab of two QEMU servers behind emulated Redfish BMCs (one given a static address by its config drive,
 * one on DHCP), each provisioned over virtual media: installer ISO -> image on disk -> first boot ->
 * completion reported -> media ejected.
 */
let work = '';
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const PROVISIONING_STEPS: readonly string[] = FLOWS.provisioning;

describe('virtual site', () => {
  it(
    'provisions two QEMU servers from available to provisioned and prints the timeline',
    async () => {
      work = await mkdtemp(path.join(tmpdir(), 'outpost-site-'));
      const configDir = path.join(work, 'config');
      await mkdir(configDir);
      await copyExampleConfigDir(configDir);
      const log: string[] = [];
      const result = await runTrial({
        configDir,
        definitionFile: 'example.yaml',
        hosts: 2,
        staticHosts: 1,
        workDir: path.join(work, 'site'),
        timeoutMs: 25 * 60_000,
        log: (line) => log.push(line),
      });
      console.log(formatTrial(result));
      expect(result.ok, log.slice(-30).join('\n')).toBe(true);

      for (const host of result.hosts) {
        const provisioning = host.timeline.find((p) => p.state === 'provisioning')!;
        expect(provisioning.steps.map((s) => `${s.step}:${s.result}`)).toEqual(
          PROVISIONING_STEPS.map((s) => `${s}:succeeded`),
        );
        const serial = readFileSync(host.serialLog!, 'utf8').replaceAll('\r', '');
        // The installer wrote and verified the image, then the server booted from its disk and ran first boot.
        expect(serial).toMatch(
          /outpost-installer: \[write\] done 100% \d+ MiB of data verified range by range/,
        );
        expect(serial).toMatch(/outpost-installer: \[config-drive\] done/);
        for (const step of [
          '05-configure-network.sh',
          '10-growfs.sh',
          '17-users.sh',
          '18-systemd.sh',
          '50-site-motd.sh',
        ]) {
          expect(serial).toContain(`outpost-firstboot: step ${step}: done`);
        }
        expect(serial).toMatch(/outpost-firstboot: first boot complete/);
        expect(serial).toMatch(/outpost-firstboot-report: reported first boot ok/);
        expect(serial).toContain(`network: hostname set to ${host.name}`);
        // growfs took the disk up to the config drive partition the installer put at its end.
        const grown = /growfs: after: partition (\d+) bytes/.exec(serial);
        expect(Number(grown?.[1])).toBeGreaterThan(7 * 2 ** 30);
      }
      const [staticHost, dhcpHost] = result.hosts.map((h) => readFileSync(h.serialLog!, 'utf8'));
      expect(staticHost).toMatch(/outpost-installer: network: eth0 10\.0\.2\.51\/24/);
      expect(staticHost).toContain('network: config drive: rendered nmstate network data for host-1');
      expect(dhcpHost).toContain('falling back to DHCP on every Ethernet interface');
    },
    30 * 60_000,
  );
});
