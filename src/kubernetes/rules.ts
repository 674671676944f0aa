import type { HelmChart, HelmRepository, Kubernetes } from '../definition/types.ts';
import { isAddonName, isObjectName, VIP_CHARTS, VIP_CHARTS_REPOSITORY } from './manifests.ts';

/*
 * The rules the Kubernetes step of a build applies to the definition and the config directory, as pure
 * functions: `outpost validate` (src/kubernetes/check.ts) reports them with positions before any build,
 * and the build (contributor.ts) applies the same ones.
 */

/** Container image archives loaded into the nodes' containerd. */
export const IMAGES_DIR = 'kubernetes/images';

export const ENV_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

type Env = Readonly<Record<string, string | undefined>>;

/** What is wrong with server.yaml's `token` (as YAML read it), if anything: checked by validate and build. */
export function tokenProblem(given: unknown, env: Env): string | undefined {
  if (given === undefined || given === null) return undefined;
  if (typeof given !== 'string' || given === '') return 'must be a non-empty string';
  const ref = ENV_REFERENCE.exec(given);
  if (ref && !env[ref[1]!]) return `environment variable ${ref[1]} is not set (the token is read from it)`;
  return undefined;
}

/** Why a file of kubernetes/images cannot be loaded as a container image archive, judged by its name. */
export function imageArchiveNameProblem(name: string): string | undefined {
  return /\.(tar|tar\.gz|tgz|tar\.zst|tzst)$/.test(name)
    ? undefined
    : 'must be a container image archive (.tar, .tar.gz or .tar.zst, as docker save writes it)';
}

/** Why RKE2 cannot deploy a local manifest of this file name (it names an Addon object after it). */
export function manifestNameProblem(name: string): string | undefined {
  if (isAddonName(name.replace(/\.ya?ml$/, ''))) return undefined;
  return `RKE2 names an object after this file: use lower-case letters, digits, '-' and '.' (at most 253), e.g. ${JSON.stringify(name.toLowerCase().replace(/[^a-z0-9.-]+/g, '-'))}`;
}

/** Why a chart's HelmChart object name is refused, or a clash with an earlier chart's; checked by validate and build. */
export function helmChartNameProblem(name: string, earlier: ReadonlySet<string>): string | undefined {
  if (!isObjectName(name))
    return `'${name}' cannot name a HelmChart (lower-case letters, digits and '-', at most 63)`;
  if (earlier.has(name)) return `a second HelmChart named '${name}'`;
  return undefined;
}

/** A chart the image carries: the definition's, or one of EIB's VIP charts. */
export interface WantedChart {
  chart: HelmChart;
  /** Names the chart in messages. */
  field: string;
  /** The definition's repository of the chart (the build pulls only from those). */
  repository?: HelmRepository;
  /** Where `outpost artefacts pull` fetches it: the definition's repository, or SUSE Edge's for the VIP charts. */
  pullFrom?: HelmRepository;
}

/** Every chart the image carries (the definition's, plus EIB's VIP charts unless the definition has them). */
export function wantedCharts(k8s: Pick<Kubernetes, 'helm' | 'network'>): WantedChart[] {
  const wanted: WantedChart[] = k8s.helm.charts.map((chart, i) => {
    const repository = k8s.helm.repositories.find((r) => r.name === chart.repositoryName);
    return { chart, field: `kubernetes.helm.charts[${i}]`, repository, pullFrom: repository };
  });
  if (k8s.network?.apiVIP || k8s.network?.apiVIP6) {
    for (const chart of VIP_CHARTS) {
      if (!k8s.helm.charts.some((c) => c.name === chart.name)) {
        wanted.push({
          chart,
          field: 'kubernetes.network (API VIP)',
          repository: k8s.helm.repositories.find((r) => r.name === chart.repositoryName),
          pullFrom: { name: chart.repositoryName, url: VIP_CHARTS_REPOSITORY },
        });
      }
    }
  }
  return wanted;
}
