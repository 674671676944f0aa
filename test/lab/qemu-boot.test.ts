import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serveFiles } from '../fixtures/lab-file-server.ts';
import { MARKER, markerIso } from '../fixtures/marker-iso.ts';
import { connectClient, withLab } from '../fixtures/redfish-lab.ts';

let iso: string;
beforeAll(async () => {
  iso = await markerIso();
}, 600_000);

describe('QEMU-backed lab host', () => {
  let cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
  });

  it.each([
    { vendor: 'supermicro', firmware: 'UEFI', ovmf: true },
    { vendor: 'hpe', firmware: 'BIOS', ovmf: false },
  ] as const)(
    '$vendor BMC, $firmware: boots an ISO inserted through our Redfish client (marker on the serial console)',
    async ({ vendor, ovmf }) => {
      const files = await serveFiles([iso]);
      cleanup.push(files.close);
      const lab = await withLab({
        hosts: 1,
        backend: 'qemu',
        vendor,
        qemu: { memoryMiB: 512, diskGiB: 2, ovmf },
      });
      cleanup.push(lab.stop);
      const host = lab.hosts[0]!;
      const { client } = await connectClient(host, {
        timeoutMs: 30_000,
        retry: { attempts: 3, delayMs: 500 },
      });
      cleanup.push(() => client.close());

      const url = files.urlOf(iso);
      await client.insertMedia(url);
      // The BMC fetched the image from the media server, as a real one does.
      expect(files.requests).toContain(`GET /${url.split('/').pop()}`);
      await client.setBootOnce('Cd');
      await client.power('on');

      const serialLog = host.serialLog!;
      const deadline = Date.now() + 240_000;
      let log = '';
      while (!log.includes(MARKER)) {
        if (Date.now() > deadline)
          throw new Error(`no ${MARKER} on ${serialLog} within 240 s; it holds:\n${log.slice(-2000)}`);
        await sleep(1000);
        log = await readFile(serialLog, 'utf8').catch(() => '');
      }
      // The marker's init reboots; with -no-reboot QEMU exits and the BMC starts it again from the next
      // boot device: the Once override is spent, so the disk.
      const rebootBy = Date.now() + 60_000;
      while (lab.status(host.name).boots.length < 2) {
        if (Date.now() > rebootBy)
          throw new Error(`no second boot within 60 s: ${JSON.stringify(lab.status(host.name).boots)}`);
        await sleep(500);
      }
      const status = lab.status(host.name);
      expect(status.boots.map((b) => b.device)).toEqual(['cd', 'disk']);
      expect(status.boots[0]!.image).toBe(url);
      expect(status.bootOverride.enabled).toBe('Disabled');
      expect(status.power).toBe('On');
      await client.power('off');
      expect(lab.status(host.name).power).toBe('Off');
      expect((await stat(host.disk!)).isFile()).toBe(true);
      expect(host.bootMac).toBe('52:54:00:6c:00:01');
    },
    420_000,
  );
});
