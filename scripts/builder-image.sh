#!/usr/bin/env bash
# Makes the builder image localhost/outpost-builder with podman, on a machine that reaches only Debian's
# archive (no container registry). Given a Debian 12 root filesystem tarball, no debootstrap is run, but the
# Containerfile's apt-get still needs the archive: a machine that reaches nothing cannot make the image.
# Steps:
#   1. the base image localhost/outpost-base:bookworm: imported from ROOTFS (a Debian 12 root filesystem,
#      .tar or .tar.zst), or made here with debootstrap from the Debian archive (OUTPOST_DEBIAN_MIRROR,
#      default http://deb.debian.org/debian);
#   2. podman's settings: where podman cannot start containers with its defaults (hybrid cgroups, hard
#      rlimits below podman's defaults: "error setting rlimit type 7"), scripts/containers.conf is installed
#      as /etc/containers/containers.conf (only when that file does not exist), so plain `podman run` works;
#   3. podman build of Containerfile (its apt-get reaches the Debian archive through the host's network).
# Then: podman run --rm --privileged -v "$PWD":/eib localhost/outpost-builder build --definition-file site.yaml
# Usage: scripts/builder-image.sh [ROOTFS]      (safe to run again: an existing base image is reused)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=localhost/outpost-base:bookworm
IMAGE=localhost/outpost-builder
rootfs=${1:-}
mirror=${OUTPOST_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if ! podman image exists "$BASE"; then
  if [ -n "$rootfs" ]; then
    echo "== importing $rootfs as $BASE"
    case "$rootfs" in
      *.zst) zstd -dc "$rootfs" | podman import --quiet - "$BASE" >/dev/null ;;
      *) podman import --quiet "$rootfs" "$BASE" >/dev/null ;;
    esac
  else
    echo "== making $BASE with debootstrap from $mirror (a few minutes)"
    tree=$(mktemp -d /var/tmp/outpost-base.XXXXXX)
    trap 'rm -rf "$tree"' EXIT
    debootstrap --variant=minbase bookworm "$tree" "$mirror" >"$tree.log" 2>&1 ||
      { tail -20 "$tree.log" >&2; rm -f "$tree.log"; exit 1; }
    rm -f "$tree.log"
    # The same archive inside the image, for the Containerfile's apt-get.
    echo "deb $mirror bookworm main" >"$tree/etc/apt/sources.list"
    rm -rf "$tree"/var/cache/apt/archives/*.deb
    tar -C "$tree" -c . | podman import --quiet - "$BASE" >/dev/null
  fi
fi

if ! podman run --rm "$BASE" true 2>/dev/null; then
  conf=$PWD/scripts/containers.conf
  if [ -e /etc/containers/containers.conf ]; then
    echo "podman cannot start containers here, and /etc/containers/containers.conf exists: compare it with $conf" >&2
    exit 1
  fi
  if ! CONTAINERS_CONF=$conf podman run --rm "$BASE" true; then
    echo "podman cannot start containers here, not even with $conf" >&2
    exit 1
  fi
  echo "== podman needs runc and explicit ulimits on this machine: installing $conf as /etc/containers/containers.conf"
  install -m 0644 "$conf" /etc/containers/containers.conf
fi

echo "== building $IMAGE from $BASE"
podman build --quiet --network host --build-arg BASE_IMAGE="$BASE" -t "$IMAGE" -f Containerfile . >/dev/null
podman run --rm "$IMAGE" --version
echo "built $IMAGE; run a build with:"
echo "  podman run --rm --privileged -v \"\$PWD\":/eib $IMAGE build --definition-file site.yaml"
