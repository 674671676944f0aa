import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addKernelArgs, findBootConfigs } from '../../src/image/boot-config.ts';
import { readImagePartitions } from '../../src/image/disk.ts';
import { readEspFile } from '../../src/image/esp.ts';
import { editBlsEntry, editGrubCfg, editGrubDefaults, unsafeKernelArg } from '../../src/image/kernel-args.ts';

const args = ['outpost.site=berlin', 'console=ttyS1,115200'];

describe('GRUB defaults (/etc/default/grub)', () => {
  it('appends to a double-quoted value and is idempotent', () => {
    const text = 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\nGRUB_CMDLINE_LINUX=""\n';
    const once = editGrubDefaults(text, args);
    expect(once).toBe(
      'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash outpost.site=berlin console=ttyS1,115200"\nGRUB_CMDLINE_LINUX=""\n',
    );
    expect(editGrubDefaults(once, args)).toBe(once);
  });

  it('handles single quotes, no quotes, and the last of several assignments', () => {
    expect(editGrubDefaults("GRUB_CMDLINE_LINUX_DEFAULT='quiet'\n", ['a=1'])).toBe(
      'GRUB_CMDLINE_LINUX_DEFAULT="quiet a=1"\n',
    );
    expect(editGrubDefaults('GRUB_CMDLINE_LINUX_DEFAULT=quiet\n', ['a=1'])).toBe(
      'GRUB_CMDLINE_LINUX_DEFAULT="quiet a=1"\n',
    );
    expect(editGrubDefaults('GRUB_CMDLINE_LINUX_DEFAULT="x"\nGRUB_CMDLINE_LINUX_DEFAULT="y"\n', ['a'])).toBe(
      'GRUB_CMDLINE_LINUX_DEFAULT="x"\nGRUB_CMDLINE_LINUX_DEFAULT="y a"\n',
    );
  });

  it('adds the variable when it is missing', () => {
    expect(editGrubDefaults('GRUB_TIMEOUT=5', ['a=1'])).toBe(
      'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="a=1"\n',
    );
  });
});

describe('generated grub.cfg', () => {
  const cfg = [
    "menuentry 'SL Micro' {",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: GRUB's own variable syntax
    '\tlinux\t/boot/vmlinuz-6.4 root=UUID=abc ${extra_cmdline} quiet',
    '\tinitrd\t/boot/initrd-6.4',
    '}',
    "menuentry 'rescue' {",
    '  linuxefi /boot/vmlinuz-6.4 root=UUID=abc single',
    '}',
    '# linux lines in comments stay as they are',
  ].join('\n');

  it('appends to every linux/linuxefi line and nothing else', () => {
    const edit = editGrubCfg(cfg);
    expect(edit.count).toBe(2);
    const out = edit.apply(args).split('\n');
    expect(out[1]).toBe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: GRUB's own variable syntax
      '\tlinux\t/boot/vmlinuz-6.4 root=UUID=abc ${extra_cmdline} quiet outpost.site=berlin console=ttyS1,115200',
    );
    expect(out[2]).toBe('\tinitrd\t/boot/initrd-6.4');
    expect(out[5]).toBe(
      '  linuxefi /boot/vmlinuz-6.4 root=UUID=abc single outpost.site=berlin console=ttyS1,115200',
    );
    expect(out[7]).toBe('# linux lines in comments stay as they are');
    expect(editGrubCfg(edit.apply(args)).apply(args)).toBe(edit.apply(args));
  });
});

describe('BLS and systemd-boot entries', () => {
  it('appends to the last options line', () => {
    const entry = 'title Fedora\nlinux /vmlinuz\noptions root=UUID=1 ro\noptions quiet\ninitrd /initrd\n';
    expect(editBlsEntry(entry, args)).toBe(
      'title Fedora\nlinux /vmlinuz\noptions root=UUID=1 ro\noptions quiet outpost.site=berlin console=ttyS1,115200\ninitrd /initrd\n',
    );
  });

  it('adds an options line when there is none, and does not repeat arguments', () => {
    expect(editBlsEntry('title x\nlinux /vmlinuz', ['a=1'])).toBe('title x\nlinux /vmlinuz\noptions a=1\n');
    const entry = 'options root=UUID=1 a=1\n';
    expect(editBlsEntry(entry, ['a=1'])).toBe(entry);
  });

  it('rejects arguments a boot loader or shell would interpret', () => {
    expect(
      ['a=1', 'console=ttyS0,115200n8', 'ip=10.0.0.2::10.0.0.1:255.255.255.0:h:eth0:off'].some(
        unsafeKernelArg,
      ),
    ).toBe(false);
    for (const bad of ['a=$x', 'a="b c"', 'x;reboot', "a='1'", 'two words'])
      expect(unsafeKernelArg(bad)).toBe(true);
  });
});

describe('applying to an image', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'outpost-kargs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('edits systemd-boot entries on a real FAT ESP inside a GPT image, with mtools at the partition offset', async () => {
    const esp = path.join(dir, 'esp.img');
    const disk = path.join(dir, 'disk.raw');
    execFileSync('mkfs.vfat', ['-F', '32', '-C', esp, String(40 * 1024)], { stdio: 'ignore' });
    const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
    execFileSync('mmd', ['-i', esp, '::/loader', '::/loader/entries'], { env });
    writeFileSync(path.join(dir, 'a.conf'), 'title A\nlinux /vmlinuz\noptions root=PARTUUID=x rw\n');
    writeFileSync(path.join(dir, 'b.conf'), 'title B\nlinux /vmlinuz\n');
    execFileSync(
      'mcopy',
      ['-i', esp, path.join(dir, 'a.conf'), path.join(dir, 'b.conf'), '::/loader/entries/'],
      { env },
    );
    writeFileSync(disk, '');
    truncateSync(disk, 64 * 2 ** 20);
    execFileSync('sgdisk', ['-n', '1:1M:+40M', '-t', '1:ef00', '-n', '2:0:0', disk], { stdio: 'ignore' });
    execFileSync('dd', [`if=${esp}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
    const root = path.join(dir, 'root');
    mkdirSync(root);

    const table = readImagePartitions(disk);
    const where = { root, image: disk, table };
    const configs = await findBootConfigs(where);
    expect(configs).toEqual([
      { kind: 'systemd-boot', files: ['esp1:/loader/entries/a.conf', 'esp1:/loader/entries/b.conf'] },
    ]);
    const changed = await addKernelArgs(where, configs, args);
    expect(changed).toHaveLength(2);
    const espPart = table.partitions[0]!;
    expect(await readEspFile(disk, espPart, '/loader/entries/a.conf')).toBe(
      'title A\nlinux /vmlinuz\noptions root=PARTUUID=x rw outpost.site=berlin console=ttyS1,115200\n',
    );
    expect(await readEspFile(disk, espPart, '/loader/entries/b.conf')).toContain(
      'options outpost.site=berlin',
    );
    expect(await addKernelArgs(where, configs, args)).toEqual([]);
    // The filesystem is still consistent for the firmware's FAT driver.
    const edited = path.join(dir, 'esp-edited.img');
    execFileSync('dd', [`if=${disk}`, `of=${edited}`, 'bs=1M', 'skip=1', 'count=40', 'status=none']);
    execFileSync('fsck.vfat', ['-n', edited], { stdio: 'ignore' });
  });

  it('finds GRUB and BLS configurations in a root filesystem and edits them', async () => {
    const root = path.join(dir, 'grub-root');
    mkdirSync(path.join(root, 'etc/default'), { recursive: true });
    mkdirSync(path.join(root, 'boot/grub2'), { recursive: true });
    mkdirSync(path.join(root, 'boot/loader/entries'), { recursive: true });
    writeFileSync(path.join(root, 'etc/default/grub'), 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n');
    writeFileSync(
      path.join(root, 'boot/grub2/grub.cfg'),
      'menuentry x {\n linux /vmlinuz root=/dev/vda2\n}\n',
    );
    writeFileSync(path.join(root, 'boot/loader/entries/x.conf'), 'title x\noptions root=/dev/vda2\n');
    const disk = path.join(dir, 'empty.raw');
    writeFileSync(disk, '');
    truncateSync(disk, 8 * 2 ** 20);
    execFileSync('sgdisk', ['-n', '1:1M:0', disk], { stdio: 'ignore' });
    const where = { root, image: disk, table: readImagePartitions(disk) };
    const configs = await findBootConfigs(where);
    expect(configs.map((c) => c.kind)).toEqual(['grub', 'bls']);
    await addKernelArgs(where, configs, ['a=1']);
    expect(readFileSync(path.join(root, 'etc/default/grub'), 'utf8')).toBe(
      'GRUB_CMDLINE_LINUX_DEFAULT="quiet a=1"\n',
    );
    expect(readFileSync(path.join(root, 'boot/grub2/grub.cfg'), 'utf8')).toContain(
      ' linux /vmlinuz root=/dev/vda2 a=1\n',
    );
    expect(readFileSync(path.join(root, 'boot/loader/entries/x.conf'), 'utf8')).toBe(
      'title x\noptions root=/dev/vda2 a=1\n',
    );
  });
});
