/**
 * The lab's stand-in for an RKE2 release (`outpost lab rke2-release`): real file names, layout, checksum
 * file and image archives, with `bin/rke2` a small program that serves RKE2's supervisor and enough of
 * the Kubernetes API for kubectl (see rke2-standin.py's header and docs/lab.md).
 *
 * Using it from a test or a definition fixture:
 *   await writeRke2Release({ version: 'v1.32.4+rke2r1', arch: 'x86_64', outDir: 'cfg/kubernetes/install' });
 * On the node: install the tarball (install.sh with INSTALL_RKE2_ARTIFACT_PATH, or unpack it into the
 * prefix), put the rke2-images* files into /var/lib/rancher/rke2/agent/images, write
 * /etc/rancher/rke2/config.yaml, start rke2-server (Type=notify: the start returns once it listens on
 * 6443 and 9345). The Node turns Ready within 2 s of agent/images holding rancher/rke2-runtime:<version>
 * and the images of the configured cni. The guest needs python3, python3-yaml, openssl and zstd
 * (test/fixtures/debian-rootfs.sh has them). From the host: copy /etc/rancher/rke2/rke2.yaml, point its
 * `server:` at the forwarded 6443 (its certificate is valid for 127.0.0.1, the node IPs and tls-san).
 * RKE2_LAB_DEBUG=1 in the unit's environment logs every request.
 */
export { dockerizedVersion, imageComponents, runtimeImage } from './images.ts';
export {
  isRke2Version,
  type Release,
  type ReleaseFile,
  type ReleaseOptions,
  rke2Arch,
  standInProgram,
  writeRke2Release,
} from './release.ts';
