/**
 * Small disk images made inside a test, for layouts the cached fixtures do not cover: MBR partitioning and
 * an xfs root (xfs needs a mount to populate), or no usable root at all.
 */
import { execFileSync } from 'node:child_process';

const script = String.raw`
set -euo pipefail
OUT=$1 GRUB=$2
W=$(mktemp -d "$OUT.work.XXXXXX")
cleanup() { mountpoint -q "$W/mnt" && umount "$W/mnt"; rm -rf "$W"; }
trap cleanup EXIT
truncate -s 320M "$W/root.img"
mkfs.xfs -q -L rootfs "$W/root.img"
mkdir "$W/mnt"
mount -o loop "$W/root.img" "$W/mnt"
mkdir -p "$W/mnt/etc/default" "$W/mnt/boot/grub" "$W/mnt/etc/systemd/system"
printf 'PRETTY_NAME="Ubuntu 24.04 LTS"\nNAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n' >"$W/mnt/etc/os-release"
if [ "$GRUB" = yes ]; then
  printf 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n' >"$W/mnt/etc/default/grub"
  printf 'menuentry "Ubuntu" {\n\tlinux\t/boot/vmlinuz root=LABEL=rootfs ro quiet splash\n\tinitrd\t/boot/initrd.img\n}\n' >"$W/mnt/boot/grub/grub.cfg"
fi
umount "$W/mnt"
truncate -s 322M "$W/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$W/disk.raw"
dd if="$W/root.img" of="$W/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
mv "$W/disk.raw" "$OUT"
`;

/** MBR disk whose only partition is an xfs root (an Ubuntu-like os-release), with or without GRUB files. */
export function makeMbrXfsImage(out: string, options: { grub: boolean }): string {
  execFileSync('bash', ['-c', script, '_', out, options.grub ? 'yes' : 'no'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return out;
}

/** GPT disk with one unformatted partition: nothing to build into. */
export function makeEmptyGptImage(out: string): string {
  execFileSync('truncate', ['-s', '64M', out]);
  execFileSync('sgdisk', ['-n', '1:1M:0', out], { stdio: 'ignore' });
  return out;
}
