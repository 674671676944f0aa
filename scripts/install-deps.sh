#!/usr/bin/env bash
# Installs the system tools outpost and its tests call (Debian 12). Safe to run again.
set -euo pipefail
packages=(
  xorriso genisoimage dosfstools mtools gdisk fdisk e2fsprogs btrfs-progs xfsprogs cloud-guest-utils zstd
  qemu-system-x86 qemu-utils ovmf debootstrap busybox-static systemd-boot-efi
  ignition network-manager dbus iproute2 python3-sushy redfishtool podman runc
  isolinux syslinux-common cpio curl zip unzip iputils-ping
  grub-common grub-pc-bin grub-efi-amd64-bin openssl python3-yaml
  chromium prometheus
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The kernel the self-installing ISO boots (Debian's generic kernel, unpacked into /var/cache/outpost).
bash "$(dirname "$0")/fetch-installer-kernel.sh"
# `outpost` on PATH: a wrapper that runs this checkout with its own Node.js 24 (after npm install).
bash "$(dirname "$0")/install-cli.sh"
