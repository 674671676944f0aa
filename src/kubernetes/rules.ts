import type { HelmChart, HelmRepository, Kubernetes } from '../definition/types.ts';
import { chartFileName, isAddonName, isObjectName, VIP_CHARTS, VIP_CHARTS_REPOSITORY } from './manifests.ts';

/*
 * The rules the Kubernetes step of a build applies to the definition and the config directory, as pure
 * functions: `outpost validate` (src/kubernetes/check.ts) reports them with positions before any build,
 * and the build (contributor.ts) applies the same ones.
 */

/** Container image archives loaded into the nodes' containerd. */
export const IMAGES_DIR = 'kubernetes/images';
/** Chart tarballs the build takes instead of pulling, named as `helm pull` writes them (chartFileName). */
export const LOCAL_CHARTS_DIR = 'kubernetes/helm/charts';

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
          field: k8s.network.apiVIP ? 'kubernetes.network.apiVIP' : 'kubernetes.network.apiVIP6',
          repository: k8s.helm.repositories.find((r) => r.name === chart.repositoryName),
          pullFrom: { name: chart.repositoryName, url: VIP_CHARTS_REPOSITORY },
        });
      }
    }
  }
  return wanted;
}

/** Whether the build (and `outpost artefacts pull`) can pull from a repository: http(s) only, not OCI. */
export function isPullableRepository(url: string | undefined): boolean {
  return typeof url === 'string' && /^https?:\/\//.test(url);
}

/** What is at the chart's place in kubernetes/helm/charts/, as lstat saw it (links are not followed). */
export type LocalChart = 'file' | 'missing' | 'not a regular file';

/**
 * Why the build cannot have a chart, if it cannot: its tarball is not in kubernetes/helm/charts/ and its
 * repository is not one the build pulls from. Checked by validate (src/kubernetes/check.ts) and the build.
 */
export function chartSourceProblem(wanted: WantedChart, local: LocalChart): string | undefined {
  const { chart, repository, pullFrom } = wanted;
  const fileName = chartFileName(chart);
  if (local === 'file') return undefined;
  if (local === 'not a regular file')
    return `${LOCAL_CHARTS_DIR}/${fileName} must be a regular file, not a link or a folder (the build does not follow links here)`;
  if (isPullableRepository(repository?.url)) return undefined;
  const what = repository
    ? `chart ${chart.name} ${chart.version} cannot be had: the build pulls only from http:// and https:// repositories, not from ${repository.name}`
    : `the API VIP needs chart ${chart.name} ${chart.version}, which cannot be had`;
  const pull = isPullableRepository(pullFrom?.url)
    ? `, or run \`outpost artefacts pull\` (it fetches it from ${pullFrom!.url})`
    : '';
  return `${what}: put ${fileName} (as helm pull writes it) in ${LOCAL_CHARTS_DIR}/${pull}`;
}
