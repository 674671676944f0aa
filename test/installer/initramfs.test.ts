import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withParentDirs, writeCpio } from '../../src/installer/cpio.ts';
import { renderInstallConf } from '../../src/installer/iso.ts';
import { locateInstallerKernel } from '../../src/installer/kernel.ts';
import { readModinfo, readModuleTree, resolveModules } from '../../src/installer/kernel-modules.ts';

const work = mkdtempSync(path.join(tmpdir(), 'outpost-initramfs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('cpio newc writer', () => {
  it('produces an archive GNU cpio extracts with files, modes, directories and symlinks', () => {
    const archive = writeCpio(
      withParentDirs([
        { path: 'bin/busybox', type: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
        { path: 'bin/sh', type: 'symlink', target: 'busybox' },
        { path: 'etc/empty', type: 'file', mode: 0o600, data: Buffer.alloc(0) },
        { path: 'media/install', type: 'dir', mode: 0o755 },
      ]),
    );
    expect(archive.length % 512).toBe(0);
    const out = path.join(work, 'x');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('cpio', ['-idm', '--quiet', '-D', out], { input: archive });
    expect(readFileSync(path.join(out, 'bin/busybox'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect(statSync(path.join(out, 'bin/busybox')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(out, 'etc/empty')).mode & 0o777).toBe(0o600);
    expect(readlinkSync(path.join(out, 'bin/sh'))).toBe('busybox');
    expect(statSync(path.join(out, 'media/install')).isDirectory()).toBe(true);
  });
});

describe('kernel modules', () => {
  const kernel = locateInstallerKernel();

  it('reads depends= from a real module and orders dependencies first', async () => {
    const tree = await readModuleTree(kernel.modulesDir);
    const info = readModinfo(readFileSync(path.join(kernel.modulesDir, tree.files.get('ahci')!)));
    expect(info.get('depends')?.[0]).toContain('libahci');
    const { ordered, missing } = await resolveModules(tree, ['ahci', 'virtio_blk', 'no_such_module']);
    const names = ordered.map((p) => path.basename(p, '.ko'));
    expect(names.indexOf('libahci')).toBeGreaterThanOrEqual(0);
    expect(names.indexOf('libahci')).toBeLessThan(names.indexOf('ahci'));
    expect(names.indexOf('libata')).toBeLessThan(names.indexOf('libahci'));
    expect(missing).toEqual(['no_such_module']);
  });
});

describe('install.conf', () => {
  it('keeps hostile values inert when the installer sources it', () => {
    const conf = renderInstallConf(
      {
        host: "node'1; touch /tmp/pwned",
        image: { url: 'http://10.0.2.2:8080/media/a b$(id).raw', size: 42, sha256: 'ab'.repeat(32) },
        disk: { hints: { serialNumber: '`reboot`', minSizeBytes: 1024 } },
        callback: { url: 'http://x/cb', token: 'tok"en' },
        network: { mode: 'static', address: '192.0.2.5/24', dns: ['192.0.2.1', '192.0.2.2'] },
      },
      true,
    );
    const file = path.join(work, 'install.conf');
    writeFileSync(file, conf);
    const env = execFileSync('busybox', [
      'sh',
      '-c',
      `. ${file} && printf '%s\\n' "$OUTPOST_HOST" "$OUTPOST_IMAGE_URL" "$OUTPOST_HINT_SERIAL" "$OUTPOST_CALLBACK_TOKEN" "$OUTPOST_NET_DNS" "$OUTPOST_CONFIG_DRIVE" "$OUTPOST_HINT_MIN_BYTES"`,
    ]).toString();
    expect(env.split('\n').slice(0, 7)).toEqual([
      "node'1; touch /tmp/pwned",
      'http://10.0.2.2:8080/media/a b$(id).raw',
      '`reboot`',
      'tok"en',
      '192.0.2.1 192.0.2.2',
      'outpost/config-drive.img',
      '1024',
    ]);
  });
});
