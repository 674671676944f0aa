import { stringify } from 'yaml';
import type { HelmChart, Kubernetes } from '../definition/types.ts';

/**
 * What goes into RKE2's auto-deploy folder (`/var/lib/rancher/rke2/server/manifests`) on servers: one
 * HelmChart per chart, pointing at the tarball RKE2 serves from `server/static/charts/` (no object size
 * limit, unlike EIB's base64 `chartContent`), and EIB's VIP objects when the definition has a VIP.
 */
export const STATIC_CHARTS_URL = 'https://%{KUBERNETES_API}%/static/charts';
export const SERVER_MANIFESTS_DIR = '/var/lib/rancher/rke2/server/manifests';
export const STATIC_CHARTS_DIR = '/var/lib/rancher/rke2/server/static/charts';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The tarball name `helm pull` writes: `<name>-<version>.tgz`. */
export function chartFileName(chart: Pick<HelmChart, 'name' | 'version'>): string {
  return `${chart.name}-${chart.version}.tgz`;
}

/** EIB's HelmChart name: the release name, else the chart name without a trailing `-chart`. */
export function helmChartName(chart: Pick<HelmChart, 'name' | 'releaseName'>): string {
  return chart.releaseName ?? chart.name.replace(/-chart$/, '');
}

/** A Kubernetes object name RKE2's deploy controller accepts (DNS-1123 label, at most 63 characters). */
export function isObjectName(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

/** A DNS-1123 subdomain: what an object name read from a manifest file name must be. */
export function isAddonName(name: string): boolean {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}

export interface ChartManifestInput {
  chart: HelmChart;
  repositoryUrl?: string;
  fileName: string;
  sha256: string;
  valuesContent?: string;
}

export function helmChartManifest({
  chart,
  repositoryUrl,
  fileName,
  sha256,
  valuesContent,
}: ChartManifestInput): string {
  const spec: Record<string, unknown> = {
    chart: `${STATIC_CHARTS_URL}/${fileName}`,
    version: chart.version,
  };
  if (chart.targetNamespace) spec.targetNamespace = chart.targetNamespace;
  if (chart.createNamespace) spec.createNamespace = true;
  if (valuesContent !== undefined) spec.valuesContent = valuesContent;
  spec.backOffLimit = 20;
  return stringify(
    {
      apiVersion: 'helm.cattle.io/v1',
      kind: 'HelmChart',
      metadata: {
        name: helmChartName(chart),
        namespace: chart.installationNamespace || 'kube-system',
        annotations: {
          'outpost.io/chart-file': fileName,
          'outpost.io/chart-sha256': sha256,
          ...(repositoryUrl && { 'outpost.io/repository-url': repositoryUrl }),
        },
      },
      spec,
    },
    { lineWidth: 0 },
  );
}

/** The charts EIB adds when the API has a VIP (its config/artifacts.yaml), under the same names. */
export const VIP_CHARTS: readonly HelmChart[] = [
  {
    name: 'metallb',
    repositoryName: 'suse-edge-metallb',
    version: '0.1.0+up0.14.9',
    targetNamespace: 'metallb-system',
    createNamespace: true,
    installationNamespace: 'kube-system',
    apiVersions: [],
  },
  {
    name: 'endpoint-copier-operator',
    repositoryName: 'suse-edge-endpoint-copier-operator',
    version: '0.2.1',
    targetNamespace: 'endpoint-copier-operator',
    createNamespace: true,
    installationNamespace: 'kube-system',
    apiVersions: [],
  },
];
export const VIP_CHARTS_REPOSITORY = 'https://suse-edge.github.io/charts';

/**
 * EIB's k8s-vip.yaml: MetalLB announces the VIP(s) over L2 for a selector-less `kubernetes-vip` Service
 * whose endpoints endpoint-copier-operator keeps equal to the `kubernetes` Service's (the API servers).
 */
export function vipManifest(network: Kubernetes['network']): string | undefined {
  const v4 = network?.apiVIP;
  const v6 = network?.apiVIP6;
  if (!v4 && !v6) return undefined;
  const addresses = [...(v4 ? [`${v4}/32`] : []), ...(v6 ? [`${v6}/128`] : [])];
  const families = [...(v4 ? ['IPv4'] : []), ...(v6 ? ['IPv6'] : [])];
  const docs = [
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'api-ip', namespace: 'metallb-system' },
      spec: {
        addresses,
        avoidBuggyIPs: true,
        serviceAllocation: {
          namespaces: ['default'],
          serviceSelectors: [
            { matchExpressions: [{ key: 'serviceType', operator: 'In', values: ['kubernetes-vip'] }] },
          ],
        },
      },
    },
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata: { name: 'api-ip-l2-adv', namespace: 'metallb-system' },
      spec: { ipAddressPools: ['api-ip'] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes-vip', namespace: 'default', labels: { serviceType: 'kubernetes-vip' } },
      spec: {
        ports: [
          { name: 'rke2-api', port: 9345, protocol: 'TCP', targetPort: 9345 },
          { name: 'k8s-api', port: 6443, protocol: 'TCP', targetPort: 6443 },
        ],
        type: 'LoadBalancer',
        ...(families.length === 2
          ? { ipFamilyPolicy: 'RequireDualStack', ipFamilies: families }
          : v6
            ? { ipFamilyPolicy: 'SingleStack', ipFamilies: families }
            : {}),
      },
    },
  ];
  return docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}
