import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeConfigDrive } from '../../src/installer/config-drive.ts';
import { computeImageMap } from '../../src/installer/image-map.ts';
import {
  buildInstallerIso,
  type InstallerBase,
  type InstallerSettings,
  prepareInstallerBase,
} from '../../src/installer/iso.ts';
import { locateInstallerKernel } from '../../src/installer/kernel.ts';
import { MediaServer } from '../../src/service/media.ts';
import { SerialVm } from '../support/serial-vm.ts';

// Real boots of the installer ISO in QEMU (TCG): UEFI and BIOS, success and the failure paths.
const BOOT_TIMEOUT_MS = 300_000;
const MiB = 1024 * 1024;
const work = mkdtempSync(path.join(tmpdir(), 'outpost-installer-'));
const vms: SerialVm[] = [];
let base: InstallerBase;
let callbacks: { host: string; auth: string; body: Record<string, unknown> }[] = [];
let server: Server;
let port = 0;

/** A 48 MiB GPT image with random data in its partition: what the installer must copy byte for byte. */
function makeImage(name: string): { file: string; sha256: string; size: number } {
  const file = path.join(work, `${name}.image.raw`);
  execFileSync('truncate', ['-s', '48M', file]);
  execFileSync('sgdisk', ['-n', '1:1M:+40M', '-t', '1:8300', '-c', '1:root', file], { stdio: 'ignore' });
  execFileSync('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', 'seek=2', 'count=6', 'conv=notrunc'], {
    stdio: 'ignore',
  });
  return {
    file,
    sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
    size: statSync(file).size,
  };
}

async function makeConfigDrive(): Promise<string> {
  const out = path.join(work, 'config-drive.iso');
  await writeConfigDrive(out, { metaData: { uuid: 'node-1', 'metal3-name': 'node-1', name: 'node-1' } });
  return out;
}

function readBytes(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(length);
  readSync(fd, buf, 0, length, offset);
  return buf;
}

/**
 * Builds the ISO for `image` (its block map; the data packed in the ISO when `embed`) and boots it on a
 * 1 GiB disk pre-filled with 0x5a bytes, so the zero ranges the installer must clear are not zero already.
 */
async function install(
  name: string,
  firmware: 'uefi' | 'bios',
  settings: Omit<InstallerSettings, 'image'> & { image?: { url?: string } },
  iso: { image: string; embed?: boolean; configDrive?: string },
) {
  const disk = path.join(work, `${name}.disk.raw`);
  execFileSync('truncate', ['-s', '1G', disk]);
  execFileSync('bash', [
    '-c',
    `head -c 64M /dev/zero | tr '\\0' 'Z' | dd of=${disk} conv=notrunc status=none`,
  ]);
  const output = path.join(work, `${name}.iso`);
  const imageMap = await computeImageMap(iso.image);
  await buildInstallerIso({
    base,
    output,
    settings: { ...settings, image: { ...settings.image, size: imageMap.size, sha256: imageMap.sha256 } },
    imageMap,
    ...(iso.embed && { imagePath: iso.image }),
    ...(iso.configDrive && { configDriveImage: iso.configDrive }),
  });
  const vm = new SerialVm({
    name,
    workDir: work,
    firmware,
    disks: [disk],
    cdrom: output,
    bootFromCdrom: true,
    nics: [{ mac: '52:54:00:aa:00:01' }],
  });
  vms.push(vm);
  return { vm, disk };
}

beforeAll(async () => {
  base = await prepareInstallerBase(locateInstallerKernel(), path.join(work, 'cache'));
  // The service's own media server (Range, ETag) for images, a collector for callbacks.
  const media = new MediaServer(work);
  server = createServer((req, res) => {
    if (req.url?.startsWith('/media/')) {
      void media.handle(req, res, decodeURIComponent(req.url.slice('/media/'.length)));
      return;
    }
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      callbacks.push({ host: req.url ?? '', auth: req.headers.authorization ?? '', body: JSON.parse(body) });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
}, 120_000);

afterAll(() => {
  for (const vm of vms) vm.kill();
  server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('installer ISO in QEMU', () => {
  it(
    'installs over UEFI: image byte-exact, config drive partition, progress callbacks, then powers off',
    async () => {
      callbacks = [];
      const image = makeImage('node-1');
      const settings = {
        host: 'node-1',
        disk: { hints: { minSizeBytes: 512 * 1024 * 1024 } },
        callback: { url: `http://10.0.2.2:${port}/callbacks/node-1`, token: 'test-token-1' },
        reboot: false,
      };
      const { vm, disk } = await install('uefi-ok', 'uefi', settings, {
        image: image.file,
        embed: true,
        configDrive: await makeConfigDrive(),
      });
      await vm.waitFor(/\[install\] done 100%/, BOOT_TIMEOUT_MS);
      expect(await vm.waitForExit(60_000)).toBe(0);

      // The image is on the disk exactly, zero ranges included (they held 'Z's before); the GPT header
      // and its backup were then moved by the config drive step.
      expect(
        readBytes(disk, 1024 * 1024, 46 * 1024 * 1024).equals(
          readBytes(image.file, 1024 * 1024, 46 * 1024 * 1024),
        ),
      ).toBe(true);
      const table = execFileSync('sgdisk', ['-p', disk]).toString();
      expect(table).toMatch(/^\s+1\s+2048\s+83967\s.*root$/m);
      const cfg = table.match(/^\s+2\s+(\d+)\s+(\d+)\s.*config-2$/m);
      expect(cfg).not.toBeNull();
      expect(readBytes(disk, Number(cfg![1]) * 512 + 32769, 5).toString()).toBe('CD001');

      const phases = callbacks.map((c) => `${c.body.phase}:${c.body.status}`);
      expect(phases[0]).toBe('install:running');
      expect(phases).toContain('write:done');
      expect(phases).toContain('config-drive:done');
      expect(phases.at(-1)).toBe('install:done');
      expect(callbacks.every((c) => c.auth === 'Bearer test-token-1' && c.host === '/callbacks/node-1')).toBe(
        true,
      );
      expect(callbacks.filter((c) => c.body.phase === 'write').map((c) => c.body.progress)).toContain(100);
    },
    BOOT_TIMEOUT_MS + 120_000,
  );

  it(
    'streams the data ranges over HTTP on BIOS, and refuses a corrupted range: reason reported, disk unbootable',
    async () => {
      callbacks = [];
      const image = makeImage('node-2');
      // The map describes the good image; the server sends a copy with one byte changed in its data.
      const served = path.join(work, 'node-2.served.raw');
      copyFileSync(image.file, served);
      const fd = openSync(served, 'r+');
      writeSync(fd, Buffer.from([0xff ^ readBytes(served, 3 * MiB, 1)[0]!]), 0, 1, 3 * MiB);
      closeSync(fd);
      const settings = {
        host: 'node-2',
        image: { url: `http://10.0.2.2:${port}/media/${path.basename(served)}` },
        disk: {},
        callback: { url: `http://10.0.2.2:${port}/callbacks/node-2`, token: 'test-token-2' },
      };
      const { vm, disk } = await install('bios-badsum', 'bios', settings, { image: image.file });
      await vm.waitFor(/INSTALL FAILED: checksum mismatch/, BOOT_TIMEOUT_MS);
      vm.kill();
      const map = await computeImageMap(image.file);
      const bad = map.ranges.find((r) => r.offset <= 3 * MiB && 3 * MiB < r.offset + r.length)!;
      const got = createHash('sha256')
        .update(readBytes(served, bad.offset, bad.length))
        .digest('hex');
      const failure = callbacks.find((c) => c.body.status === 'failed');
      expect(failure?.body.message).toBe(
        `checksum mismatch at bytes ${bad.offset}-${bad.offset + bad.length - 1}: expected sha256 ${bad.sha256}, got ${got}`,
      );
      // The ranges before the bad one arrived whole; then the disk's partition table was cleared.
      expect(
        callbacks.filter((c) => c.body.phase === 'write' && c.body.status === 'running').length,
      ).toBeGreaterThan(0);
      expect(readBytes(disk, 0, MiB).every((b) => b === 0)).toBe(true);
    },
    BOOT_TIMEOUT_MS + 60_000,
  );

  it(
    'writes nothing when no disk matches the hints',
    async () => {
      callbacks = [];
      const image = makeImage('node-3');
      const settings = {
        host: 'node-3',
        disk: { hints: { serialNumber: 'NO-SUCH-SERIAL' } },
        callback: { url: `http://10.0.2.2:${port}/callbacks/node-3`, token: 'test-token-3' },
      };
      const { vm, disk } = await install('uefi-nodisk', 'uefi', settings, { image: image.file, embed: true });
      const before = createHash('sha256').update(readFileSync(disk)).digest('hex');
      await vm.waitFor(/INSTALL FAILED: no disk matches/, BOOT_TIMEOUT_MS);
      vm.kill();
      const failure = callbacks.find((c) => c.body.status === 'failed');
      expect(failure?.body.message).toMatch(
        /^no disk matches the root device hints .*\/dev\/vda\(1024 MiB\)/,
      );
      expect(createHash('sha256').update(readFileSync(disk)).digest('hex')).toBe(before);
    },
    BOOT_TIMEOUT_MS + 60_000,
  );
});
