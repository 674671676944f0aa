/**
 * The image lists an RKE2 release publishes (one `rke2-images-<component>.linux-<arch>.txt` per archive),
 * modelled on rancher/rke2 `scripts/build-images` for the v1.32 line. Names and the tag scheme are RKE2's:
 * the runtime image is `rancher/rke2-runtime:<version with + replaced by ->` and the Kubernetes image is
 * `rancher/hardened-kubernetes:<that version>-build<date>`; the other tags are representative of the line,
 * not copied from one published list (the lab never pulls them).
 */

export type Rke2Arch = 'amd64' | 'arm64';

export interface ImageComponent {
  /** `core`, `canal`, ... as in `rke2-images-<component>.linux-<arch>.tar.zst`. */
  name: string;
  images: string[];
}

/** RKE2's spelling of a version in image tags (rancher/rke2 `scripts/version.sh`, DOCKERIZED_VERSION). */
export function dockerizedVersion(version: string): string {
  return version.replace('+', '-');
}

/** The image whose presence in `agent/images` lets RKE2 start without pulling (rke2-docs architecture.md). */
export function runtimeImage(version: string): string {
  return `docker.io/rancher/rke2-runtime:${dockerizedVersion(version)}`;
}

/** Components and their images, in the order the release lists them. */
export function imageComponents(version: string, arch: Rke2Arch): ImageComponent[] {
  const tag = dockerizedVersion(version);
  const r = (image: string) => `docker.io/rancher/${image}`;
  const cniPlugins = r('hardened-cni-plugins:v1.6.2-build20250306');
  const flannel = r('hardened-flannel:v0.26.6-build20250409');
  const components: ImageComponent[] = [
    {
      name: 'core',
      images: [
        runtimeImage(version),
        r(`hardened-kubernetes:${tag}-build20250423`),
        r('hardened-coredns:v1.12.1-build20250401'),
        r('hardened-cluster-autoscaler:v1.10.1-build20250401'),
        r('hardened-dns-node-cache:1.25.0-build20250401'),
        r('hardened-etcd:v3.5.19-k3s1-build20250306'),
        r('hardened-k8s-metrics-server:v0.7.2-build20250312'),
        r('hardened-addon-resizer:1.8.22-build20250310'),
        r('klipper-helm:v0.9.5-build20250306'),
        r('klipper-lb:v0.4.13'),
        r('mirrored-pause:3.6'),
        r('nginx-ingress-controller:v1.12.1-hardened1'),
        r('rke2-cloud-provider:v1.32.2-0.20250303-build20250306'),
        r('mirrored-sig-storage-snapshot-controller:v8.2.0'),
      ],
    },
    { name: 'canal', images: [r('hardened-calico:v3.29.3-build20250409'), flannel] },
    {
      name: 'cilium',
      images: [
        r('mirrored-cilium-certgen:v0.2.1'),
        r('mirrored-cilium-cilium:v1.17.3'),
        r('mirrored-cilium-cilium-envoy:v1.32.5-1744305768-f9ddca7dcd91f7ca25a505560e655c47d3dec2cf'),
        r('mirrored-cilium-clustermesh-apiserver:v1.17.3'),
        r('mirrored-cilium-hubble-relay:v1.17.3'),
        r('mirrored-cilium-hubble-ui:v0.13.2'),
        r('mirrored-cilium-hubble-ui-backend:v0.13.2'),
        r('mirrored-cilium-operator-generic:v1.17.3'),
        cniPlugins,
      ],
    },
    {
      name: 'calico',
      images: [
        r('mirrored-calico-operator:v1.36.7'),
        r('mirrored-calico-ctl:v3.29.3'),
        r('mirrored-calico-kube-controllers:v3.29.3'),
        r('mirrored-calico-typha:v3.29.3'),
        r('mirrored-calico-node:v3.29.3'),
        r('mirrored-calico-pod2daemon-flexvol:v3.29.3'),
        r('mirrored-calico-cni:v3.29.3'),
        r('mirrored-calico-apiserver:v3.29.3'),
        r('mirrored-calico-csi:v3.29.3'),
        r('mirrored-calico-node-driver-registrar:v3.29.3'),
      ],
    },
    { name: 'flannel', images: [flannel, cniPlugins] },
    {
      name: 'multus',
      images: [
        r('hardened-multus-cni:v4.2.0-build20250326'),
        r('hardened-multus-dynamic-networks-controller:v0.3.6-build20250326'),
        cniPlugins,
        r('hardened-whereabouts:v0.8.0-build20250326'),
      ],
    },
    {
      name: 'harvester',
      images: [
        r('harvester-cloud-provider:v0.2.5'),
        r('mirrored-kube-vip-kube-vip-iptables:v0.8.7'),
        r('harvester-csi-driver:v0.1.23'),
        r('mirrored-longhornio-csi-node-driver-registrar:v2.13.0'),
        r('mirrored-longhornio-csi-resizer:v1.13.1'),
        r('mirrored-longhornio-csi-provisioner:v5.1.0'),
        r('mirrored-longhornio-csi-attacher:v4.8.0'),
      ],
    },
  ];
  // RKE2 publishes the vSphere archive for amd64 only.
  if (arch === 'amd64')
    components.push({
      name: 'vsphere',
      images: [
        r('mirrored-cloud-provider-vsphere:v1.32.1'),
        r('mirrored-cloud-provider-vsphere-csi-release-driver:v3.3.1'),
        r('mirrored-cloud-provider-vsphere-csi-release-syncer:v3.3.1'),
        r('mirrored-sig-storage-csi-node-driver-registrar:v2.12.0'),
        r('mirrored-sig-storage-csi-resizer:v1.12.0'),
        r('mirrored-sig-storage-livenessprobe:v2.14.0'),
        r('mirrored-sig-storage-csi-attacher:v4.7.0'),
        r('mirrored-sig-storage-csi-provisioner:v4.0.1'),
      ],
    });
  return components;
}

/** The legacy archive `rke2-images.linux-<arch>`: core plus the default CNI (canal), as RKE2 builds it. */
export function legacyImages(components: readonly ImageComponent[]): string[] {
  const pick = (name: string) => components.find((c) => c.name === name)?.images ?? [];
  return [...pick('core'), ...pick('canal')];
}
