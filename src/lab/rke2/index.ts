/**
 * The lab's stand-in for an RKE2 release (`outpost lab rke2-release`): real file names, layout, checksum
 * file and image archives, with `bin/rke2` a small program that serves RKE2's supervisor and enough of
 * the Kubernetes API for kubectl (see rke2-standin.py and docs/lab.md).
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
