import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../src/build/build-image.ts';
import { type Lab, startLab } from '../../src/lab/index.ts';
import { ServiceClient } from '../../src/service/client.ts';
import { FLOWS } from '../../src/service/lifecycle.ts';
import { type RunningService, startService } from '../../src/service/service.ts';
import { copyExampleConfigDir } from './support/example-image.ts';

/*
 * Provisioning that must not succeed, and provisioning that must survive the service: three QEMU servers
 * behind the lab's BMCs. host-1's root device hints match no disk; host-2 is given an image that does not
 * match its published checksum; host-3 is installed while the service is stopped and started again.
 */
interface HostView {
  name: string;
  state: string;
  step?: string;
  installProgress?: number;
  error?: { message: string; count: number };
}

let work = '';
let lab: Lab | undefined;
let service: RunningService | undefined;
afterAll(async () => {
  await service?.close();
  await lab?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(
  api: ServiceClient,
  name: string,
  what: string,
  done: (h: HostView) => boolean,
  timeoutMs: number,
): Promise<HostView> {
  const deadline = Date.now() + timeoutMs;
  let last: HostView | undefined;
  while (Date.now() < deadline) {
    last = await api.request<HostView>('GET', `/hosts/${name}`).catch(() => last);
    if (last && done(last)) return last;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${name} to ${what}; last seen: ${JSON.stringify(last)}`,
  );
}

describe('provisioning failures and restarts', () => {
  it(
    'reports hint and checksum failures with their reasons, and completes across a service restart',
    async () => {
      work = await mkdtemp(path.join(tmpdir(), 'outpost-failures-'));
      const configDir = path.join(work, 'config');
      const mediaDir = path.join(work, 'media');
      await mkdir(configDir);
      await mkdir(mediaDir);
      await copyExampleConfigDir(configDir);
      const report = await buildImage({
        configDir,
        definitionFile: 'example.yaml',
        buildRoot: path.join(work, '_build'),
      });
      const image = report.outputs.find((o) => o.role === 'image')!;
      await link(image.path, path.join(mediaDir, 'site.raw'));
      await link(`${image.path}.sha256`, path.join(mediaDir, 'site.raw.sha256'));
      // The same bytes published with another checksum: what a corrupted or swapped file looks like.
      await link(image.path, path.join(mediaDir, 'swapped.raw'));
      await writeFile(path.join(mediaDir, 'swapped.raw.sha256'), `${'e'.repeat(64)}  swapped.raw\n`);

      lab = await startLab({ hosts: 3, backend: 'qemu', stateDir: path.join(work, 'lab') });
      const port = await freePort();
      const serviceOptions = {
        stateDir: path.join(work, 'service'),
        mediaDir,
        host: '127.0.0.1',
        port,
        hostUrl: `http://10.0.2.2:${port}`,
        // Failed hosts are not retried while the test looks at them.
        timing: { backoffBaseMs: 30 * 60_000, callbackTimeoutMs: 20 * 60_000 },
        log: () => {},
      };
      service = await startService(serviceOptions);
      const api = ServiceClient.fromOptions({ server: service.url, stateDir: serviceOptions.stateDir });
      await api.request('POST', '/hosts', {
        hosts: lab.hosts.map((h) => ({
          name: h.name,
          bmc: { address: h.bmcAddress, username: h.username, password: h.password },
          bootMACAddress: h.bootMac,
          ...(h.name === 'host-1' && { rootDeviceHints: { serialNumber: 'NO-SUCH-DISK' } }),
        })),
      });
      for (const h of lab.hosts)
        await waitFor(api, h.name, 'become available', (v) => v.state === 'available', 120_000);
      await api.request('POST', '/hosts/host-1/provision', { image: 'site.raw' });
      await api.request('POST', '/hosts/host-2/provision', { image: 'swapped.raw' });
      await api.request('POST', '/hosts/host-3/provision', { image: 'site.raw' });

      // host-2: refused before anything boots, with the checksum in the reason.
      const swapped = await waitFor(api, 'host-2', 'fail', (v) => v.error !== undefined, 120_000);
      expect(swapped.state).toBe('provisioning');
      expect(swapped.error!.message).toMatch(
        /^checksum mismatch: swapped\.raw does not match swapped\.raw\.sha256 \(expected sha256 e{64}, got [0-9a-f]{64}\)/,
      );
      expect(lab.status('host-2').boots).toEqual([]);

      // host-3: stop the service while the installer writes, start it again: the host still completes.
      await waitFor(
        api,
        'host-3',
        'write its image',
        (v) => v.step === 'installer' && (v.installProgress ?? 0) > 0,
        600_000,
      );
      await service.close();
      service = undefined;
      await new Promise((r) => setTimeout(r, 5000));
      service = await startService(serviceOptions);

      // host-1: the installer found no disk matching the hints and said so; the disk was not written.
      const hinted = await waitFor(api, 'host-1', 'fail', (v) => v.error !== undefined, 600_000);
      expect(hinted.error!.message).toMatch(/no disk matches the root device hints .*\/dev\/vda\(8192 MiB\)/);
      const map = JSON.parse(
        execFileSync('qemu-img', ['map', '--output=json', '-U', lab.hosts[0]!.disk!]).toString(),
      ) as { data: boolean }[];
      expect(map.filter((extent) => extent.data)).toEqual([]);

      const done = await waitFor(api, 'host-3', 'be provisioned', (v) => v.state === 'provisioned', 900_000);
      expect(done.error).toBeUndefined();
      expect(lab.status('host-3').boots.map((b) => b.device)).toEqual(['cd', 'disk']);
      const { timeline } = await api.request<{
        timeline: { state: string; steps: { step: string; result: string }[] }[];
      }>('GET', '/hosts/host-3/timeline');
      const steps = timeline
        .find((p) => p.state === 'provisioning')!
        .steps.map((s) => `${s.step}:${s.result}`);
      expect(steps).toEqual(FLOWS.provisioning.map((step) => `${step}:succeeded`));
    },
    30 * 60_000,
  );
});
