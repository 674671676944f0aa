import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../../src/lab/index.ts';
import { ServiceClient } from '../../src/service/client.ts';
import { type RunningService, startService } from '../../src/service/service.ts';

/*
 * Cleaning on deprovision, for real: one QEMU server behind the lab's BMC, its disk holding a GPT and an
 * ext4 filesystem. The host is deprovisioned; the service boots the installer ISO in wipe mode through
 * the BMC, the installer wipes the disk and reports, and the host is available with a disk on which
 * neither sgdisk nor blkid finds anything.
 */
interface HostView {
  name: string;
  state: string;
  step?: string;
  error?: { message: string; count: number };
}

const MiB = 1024 * 1024;
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

async function waitFor(api: ServiceClient, what: string, done: (h: HostView) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last: HostView | undefined;
  while (Date.now() < deadline) {
    last = await api.request<HostView>('GET', '/hosts/host-1').catch(() => last);
    if (last && done(last)) return last;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for host-1 to ${what}; last seen: ${JSON.stringify(last)}`,
  );
}

function isZero(file: string, offset: number, length: number): boolean {
  const fd = openSync(file, 'r');
  const buffer = Buffer.alloc(length);
  readSync(fd, buffer, 0, length, offset);
  closeSync(fd);
  return buffer.every((b) => b === 0);
}

/** What blkid finds at the partition's offset (empty when nothing). */
function probe(file: string): string {
  try {
    return execFileSync('blkid', ['-p', '-o', 'value', '-s', 'TYPE', '-O', String(MiB), file])
      .toString()
      .trim();
  } catch {
    return '';
  }
}

describe('cleaning on deprovision (QEMU)', () => {
  it('boots the wipe ISO through the BMC, wipes partition table and filesystem signatures, then is available', async () => {
    work = await mkdtemp(path.join(tmpdir(), 'outpost-cleaning-'));
    const mediaDir = path.join(work, 'media');
    await mkdir(mediaDir);
    // Not a bootable ISO: the host sits in provisioning, waiting for an installer that never reports.
    await writeFile(path.join(mediaDir, 'stub.iso'), 'not an ISO');
    lab = await startLab({
      hosts: 1,
      backend: 'qemu',
      stateDir: path.join(work, 'lab'),
      qemu: { diskGiB: 1 },
    });
    const host = lab.hosts[0]!;

    // The server's disk: a GPT with one partition holding ext4, as a previous tenant left it.
    const seeded = path.join(work, 'seeded.raw');
    execFileSync('truncate', ['-s', '1G', seeded]);
    execFileSync('sgdisk', ['-n', '1:1M:+200M', '-t', '1:8300', '-c', '1:data', seeded], { stdio: 'ignore' });
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', `offset=${MiB}`, seeded, '200M']);
    expect(probe(seeded)).toBe('ext4');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', seeded, host.disk!]);

    const port = await freePort();
    service = await startService({
      stateDir: path.join(work, 'service'),
      mediaDir,
      host: '127.0.0.1',
      port,
      hostUrl: `http://10.0.2.2:${port}`,
      timing: { backoffBaseMs: 30 * 60_000, callbackTimeoutMs: 20 * 60_000 },
      log: () => {},
    });
    const api = ServiceClient.fromOptions({ server: service.url, stateDir: path.join(work, 'service') });
    await api.request('POST', '/hosts', {
      hosts: [
        {
          name: host.name,
          bmc: { address: host.bmcAddress, username: host.username, password: host.password },
          bootMACAddress: host.bootMac,
        },
      ],
    });
    await waitFor(api, 'become available', (v) => v.state === 'available', 120_000);
    // Only to get it provisioning: it is deprovisioned while the service waits for the installer's callback.
    await api.request('POST', '/hosts/host-1/provision', { image: 'stub.iso', callbacks: true });
    await waitFor(api, 'wait for the installer', (v) => v.step === 'installer', 120_000);

    await api.request('POST', '/hosts/host-1/deprovision');
    await waitFor(api, 'boot the cleaning ISO', (v) => v.step === 'cleaning', 180_000);
    const cleaned = await waitFor(
      api,
      'be cleaned and available',
      (v) => v.state === 'available' && !v.step,
      600_000,
    );
    expect(cleaned.error).toBeUndefined();
    expect(lab.status('host-1').power).toBe('Off');
    expect(lab.status('host-1').media.every((m) => !m.inserted)).toBe(true);
    const boots = lab.status('host-1').boots;
    expect(boots.at(-1)).toMatchObject({
      device: 'cd',
      image: expect.stringMatching(new RegExp(`^${service.url}/media/hosts/[0-9a-f]{32}\\.iso$`)),
    });

    const { events } = await api.request<{ events: { reason: string; message: string }[] }>(
      'GET',
      '/hosts/host-1/events',
    );
    const cleaning = events.filter((e) => e.reason === 'Cleaning').map((e) => e.message);
    expect(cleaning).toContainEqual(
      expect.stringMatching(
        /^clean succeeded: partition tables and signatures wiped on: \/dev\/vda\(1 partitions\)$/,
      ),
    );

    // The disk as the installer left it: no partition table, no filesystem, first and last MiB zero.
    await lab.close();
    lab = undefined;
    const after = path.join(work, 'after.raw');
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', host.disk!, after]);
    const table = execFileSync('sgdisk', ['-p', after]).toString();
    expect(table).toMatch(/Creating new GPT entries in memory/);
    expect(table).not.toMatch(/^\s+1\s+2048\s/m);
    expect(probe(after)).toBe('');
    expect(isZero(after, 0, MiB)).toBe(true);
    expect(isZero(after, 1024 * MiB - MiB, MiB)).toBe(true);
    expect(isZero(after, MiB, MiB)).toBe(true);
  }, 900_000);
});
