#!/usr/bin/env bash
# Puts the kernel and modules the self-installing ISO boots into DEST (default /var/cache/outpost/installer-kernel):
# Debian's generic amd64 kernel package, unpacked (no install, no initramfs hooks on this machine).
# Layout: DEST/<version>/vmlinuz and DEST/<version>/lib/modules/<version>/...; DEST/current -> <version>.
set -euo pipefail
dest=${1:-/var/cache/outpost/installer-kernel}
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
version=${pkg#linux-image-}
# modules.order comes with the package (modules.dep would only exist after depmod, which is not run here);
# the tree is moved into place whole, so a complete vmlinuz and modules.order mean a complete unpack.
if [ -f "$dest/$version/vmlinuz" ] && [ -f "$dest/$version/lib/modules/$version/modules.order" ]; then
  ln -sfn "$version" "$dest/current"
  echo "installer kernel $version already in $dest"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq "$pkg")
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/root"
mkdir -p "$dest.tmp.$$/$version/lib/modules"
cp "$work/root/boot/vmlinuz-$version" "$dest.tmp.$$/$version/vmlinuz"
cp -a "$work/root/lib/modules/$version" "$dest.tmp.$$/$version/lib/modules/"
mkdir -p "$dest"
rm -rf "${dest:?}/$version"
mv "$dest.tmp.$$/$version" "$dest/$version"
rmdir "$dest.tmp.$$"
ln -sfn "$version" "$dest/current"
echo "installer kernel $version unpacked into $dest"
