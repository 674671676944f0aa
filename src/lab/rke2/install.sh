#!/bin/sh
# Air-gap installer for the lab's RKE2 stand-in release, following the contract of RKE2's install.sh for
# INSTALL_RKE2_ARTIFACT_PATH (tarball method): checksums from sha256sum-<arch>.txt, the un-suffixed
# rke2-images archive installed and the other rke2-images-* files copied to the images folder, the tarball
# unpacked into INSTALL_RKE2_TAR_PREFIX (/usr/local, or /opt/rke2 when /usr/local is read-only or a mount
# point), unit paths rewritten for another prefix, then systemctl daemon-reload. It never downloads.
set -e
[ -n "${DEBUG}" ] && set -x

info() { echo "[INFO] " "$@"; }
fatal() { echo "[ERROR] " "$@" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fatal "You need to be root to perform this install"
[ -n "${INSTALL_RKE2_ARTIFACT_PATH}" ] || fatal "this lab installer only installs from INSTALL_RKE2_ARTIFACT_PATH (no network)"
[ -d "${INSTALL_RKE2_ARTIFACT_PATH}" ] || fatal "INSTALL_RKE2_ARTIFACT_PATH ${INSTALL_RKE2_ARTIFACT_PATH} is not a directory"

ARCH=${ARCH:-$(uname -m)}
case "${ARCH}" in
  amd64 | x86_64) ARCH=amd64 ;;
  arm64 | aarch64) ARCH=arm64 ;;
  *) fatal "unsupported architecture ${ARCH}" ;;
esac
SUFFIX="linux-${ARCH}"
IMAGES_DIR=${INSTALL_RKE2_AGENT_IMAGES_DIR:-/var/lib/rancher/rke2/agent/images}

if [ -z "${INSTALL_RKE2_TAR_PREFIX}" ]; then
  INSTALL_RKE2_TAR_PREFIX=/usr/local
  if mountpoint -q /usr/local 2>/dev/null || ! touch /usr/local/.rke2-ro-test 2>/dev/null; then
    INSTALL_RKE2_TAR_PREFIX=/opt/rke2
  fi
  rm -f /usr/local/.rke2-ro-test
fi

ART=${INSTALL_RKE2_ARTIFACT_PATH}
SUMS="${ART}/sha256sum-${ARCH}.txt"
[ -f "${SUMS}" ] || fatal "checksum file ${SUMS} not found"
expected() { awk -v f="$1" '$2 == f { print $1 }' "${SUMS}"; }
verify() {
  want=$(expected "$1")
  [ -n "${want}" ] || fatal "$1 is not listed in ${SUMS}"
  got=$(sha256sum "${ART}/$1" | awk '{print $1}')
  [ "${got}" = "${want}" ] || fatal "download sha256 does not match ${want}, got ${got} for $1"
}

TARBALL="rke2.${SUFFIX}.tar.gz"
[ -f "${ART}/${TARBALL}" ] || fatal "${ART}/${TARBALL} not found"
info "verifying ${TARBALL}"
verify "${TARBALL}"

AIRGAP=""
for ext in tar.zst tar.gz; do
  if [ -f "${ART}/rke2-images.${SUFFIX}.${ext}" ]; then AIRGAP="rke2-images.${SUFFIX}.${ext}"; break; fi
done
if [ -n "${AIRGAP}" ]; then
  info "verifying airgap tarball ${AIRGAP}"
  verify "${AIRGAP}"
  mkdir -p "${IMAGES_DIR}"
  case "${AIRGAP}" in
    *.tar.gz) gzip -dc "${ART}/${AIRGAP}" >"${IMAGES_DIR}/rke2-images.${SUFFIX}.tar.partial" &&
      mv "${IMAGES_DIR}/rke2-images.${SUFFIX}.tar.partial" "${IMAGES_DIR}/rke2-images.${SUFFIX}.tar" ;;
    *) cp "${ART}/${AIRGAP}" "${IMAGES_DIR}/${AIRGAP}" ;;
  esac
  # Like RKE2's script: the component archives are copied only alongside the un-suffixed one, unverified.
  for f in "${ART}"/rke2-images-*."${SUFFIX}"*; do
    [ -f "$f" ] && cp "$f" "${IMAGES_DIR}/"
  done
fi

info "installing rke2 to ${INSTALL_RKE2_TAR_PREFIX}"
mkdir -p "${INSTALL_RKE2_TAR_PREFIX}"
tar xzf "${ART}/${TARBALL}" -C "${INSTALL_RKE2_TAR_PREFIX}"
if [ "${INSTALL_RKE2_TAR_PREFIX}" != /usr/local ]; then
  info "updating tarball contents to reflect install path"
  sed -i "s|/usr/local|${INSTALL_RKE2_TAR_PREFIX}|" "${INSTALL_RKE2_TAR_PREFIX}"/lib/systemd/system/rke2-*.service \
    "${INSTALL_RKE2_TAR_PREFIX}/bin/rke2-uninstall.sh"
  info "moving systemd units to /etc/systemd/system"
  mkdir -p /etc/systemd/system
  mv -f "${INSTALL_RKE2_TAR_PREFIX}"/lib/systemd/system/rke2-*.service /etc/systemd/system/
fi
if [ -z "${INSTALL_RKE2_SKIP_RELOAD}" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
fi
info "install complete"
