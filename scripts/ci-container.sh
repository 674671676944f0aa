#!/usr/bin/env bash
# Builds the builder image with scripts/builder-image.sh from a locally made base and runs one build of
# example.yaml in it (the image's apt-get needs the Debian archive).
# Usage: scripts/ci-container.sh [debian-rootfs.tar.zst] [debian-base.raw]
# (both default to the test fixtures, built and cached under /var/cache/outpost on first use)
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=$PWD/scripts/containers.conf   # runc + explicit ulimits: needed on hosts with hybrid cgroups
export PATH=$PWD/node_modules/.bin:$PATH

fixture() { node --input-type=module -e "const m = await import('./test/fixtures/base-images.ts'); console.log(await m.$1());"; }
ROOTFS_TAR=${1:-$(fixture ensureDebianRootfsTar)}
BASE_RAW=${2:-$(fixture ensureDebianBaseImage)}

# No registry is reachable: the documented script makes the base image from the fixture's debootstrap tree
# (tagged localhost/outpost-base:bookworm) and builds the builder image, as users do.
# Covers docs/user-guide.md: bash scripts/builder-image.sh (given the fixture's tree, as on a machine without
# the archive; the Containerfile's apt-get still needs it).
IMAGE=localhost/outpost-builder
bash scripts/builder-image.sh "$ROOTFS_TAR"
podman run --rm "$IMAGE" --help | grep -q 'podman run --rm --privileged -v "$PWD":/eib localhost/outpost-builder build'

DIR=$(mktemp -d /var/tmp/outpost-ci-container.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cp -r example.yaml custom network "$DIR/"
mkdir "$DIR/base-images"
# A hard link keeps the run cheap; the builder only ever reads its base image.
ln "$BASE_RAW" "$DIR/base-images/debian-12-outpost-base.raw" 2>/dev/null ||
  cp --sparse=always "$BASE_RAW" "$DIR/base-images/debian-12-outpost-base.raw"

# Covers docs/user-guide.md: the builder container's podman run line, run as written in the config dir.
echo "== podman run --rm --privileged -v $DIR:/eib $IMAGE build --definition-file example.yaml"
(cd "$DIR" && podman run --rm --privileged -v "$PWD":/eib localhost/outpost-builder build --definition-file example.yaml)
(cd "$DIR" && sha256sum --check outpost-example.raw.sha256)
test -f "$(ls -d "$DIR"/_build/build-*/ | tail -1)/report.json"

# The same definition as a self-installing ISO: the image's installer kernel and ISO tools are complete.
node --input-type=module -e "
  const { parse, stringify } = await import('yaml');
  const fs = await import('node:fs');
  const d = parse(fs.readFileSync('$DIR/example.yaml', 'utf8'));
  d.image.imageType = 'iso';
  d.image.outputImageName = 'outpost-example.iso';
  delete d.operatingSystem.rawConfiguration;
  fs.writeFileSync('$DIR/example-iso.yaml', stringify(d));
"
echo "== podman run --rm --privileged -v $DIR:/eib $IMAGE build --definition-file example-iso.yaml"
podman run --rm --privileged -v "$DIR":/eib "$IMAGE" build --definition-file example-iso.yaml
(cd "$DIR" && sha256sum --check outpost-example.iso.sha256)
xorriso -indev "$DIR/outpost-example.iso" -report_el_torito plain 2>/dev/null | grep -q UEFI
echo "== container build OK"
