import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../src/build/build-image.ts';
import { SerialVm } from '../support/serial-vm.ts';
import { copyExampleConfigDir } from './support/example-image.ts';

/*
 * imageType: iso from a raw base: the example built as outpost's self-installing ISO, then booted in QEMU
 * (UEFI) with an empty disk: the installer writes the image to the named installDevice and reboots.
 */
let work = '';
const vms: SerialVm[] = [];
afterAll(async () => {
  for (const vm of vms) vm.kill();
  if (work) await rm(work, { recursive: true, force: true });
});

async function sha256OfPrefix(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  const buffer = Buffer.alloc(4 << 20);
  for (let offset = 0; offset < bytes; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, bytes - offset), offset);
    hash.update(buffer.subarray(0, bytesRead));
    offset += bytesRead;
  }
  await handle.close();
  return hash.digest('hex');
}

describe('imageType: iso', () => {
  it('builds a self-installing ISO from a raw base, and it installs the image it carries', async () => {
    work = await mkdtemp(path.join(tmpdir(), 'outpost-iso-'));
    const configDir = path.join(work, 'config');
    await mkdir(configDir);
    await copyExampleConfigDir(configDir, (d) => {
      d.image.imageType = 'iso';
      d.image.outputImageName = 'outpost-example.iso';
      delete d.operatingSystem.rawConfiguration;
      d.operatingSystem.isoConfiguration = { installDevice: '/dev/vda' };
    });
    const report = await buildImage({
      configDir,
      definitionFile: 'example.yaml',
      buildRoot: path.join(work, '_build'),
    });
    const iso = report.outputs.find((o) => o.role === 'image')!;
    expect(iso.path).toBe(path.join(configDir, 'outpost-example.iso'));
    expect(report.steps.map((s) => s.id)).toContain('installer-iso');
    const listing = execFileSync(
      'xorriso',
      ['-indev', iso.path, '-report_el_torito', 'plain', '-ls', '/outpost'],
      {
        stderr: 'pipe',
      } as object,
    ).toString();
    expect(listing).toMatch(/El Torito boot img :\s+1\s+BIOS/);
    expect(listing).toMatch(/El Torito boot img :\s+2\s+UEFI/);
    for (const name of ['install.conf', 'image.map', 'image.data']) expect(listing).toContain(`'${name}'`);
    execFileSync(
      'xorriso',
      ['-osirrox', 'on', '-indev', iso.path, '-extract', '/outpost/image.map', path.join(work, 'image.map')],
      {
        stdio: 'ignore',
      },
    );
    const header = (await readFile(path.join(work, 'image.map'), 'utf8')).split('\n')[0]!;
    const [, size, sha256] = /^# outpost image map: size (\d+) sha256 ([0-9a-f]{64})/.exec(header)!;

    const disk = path.join(work, 'disk.raw');
    execFileSync('truncate', ['-s', '6G', disk]);
    const vm = new SerialVm({
      name: 'iso-install',
      workDir: work,
      firmware: 'uefi',
      disks: [disk],
      cdrom: iso.path,
      bootFromCdrom: true,
    });
    vms.push(vm);
    await vm.waitFor(/outpost-installer: \[install\] done 100%/, 600_000);
    expect(await vm.waitForExit(120_000)).toBe(0);
    expect(vm.serial()).toContain('[disk] done selected /dev/vda');
    expect(await sha256OfPrefix(disk, Number(size))).toBe(sha256);
  }, 900_000);
});
