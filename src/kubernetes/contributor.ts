import { randomBytes } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import type { BundleContext } from '../bundle/context.ts';
import { emptyContribution } from '../bundle/context.ts';
import type { BundleArtefact, BundleContribution, BundleFile } from '../bundle/types.ts';
import { InputError } from '../common/diagnostics.ts';
import { readTemplate, renderTemplate } from '../common/templates.ts';
import type { HelmChart, Kubernetes } from '../definition/types.ts';
import { pullChart } from './chart-repository.ts';
import { imageNames, registriesYaml } from './image-archives.ts';
import {
  chartFileName,
  helmChartManifest,
  helmChartName,
  SERVER_MANIFESTS_DIR,
  STATIC_CHARTS_DIR,
  vipManifest,
} from './manifests.ts';
import { listValue, NODE_ROLES, type NodeRole, nodeConfigs, renderConfig } from './node-config.ts';
import { checkRelease, RELEASE_DIR, releaseArch, sha256File } from './release.ts';
import {
  chartSourceProblem,
  ENV_REFERENCE,
  helmChartNameProblem,
  IMAGES_DIR,
  imageArchiveNameProblem,
  LOCAL_CHARTS_DIR,
  manifestNameProblem,
  tokenProblem,
  type WantedChart,
  wantedCharts,
} from './rules.ts';

/** The Kubernetes step of first boot: band 20-29, after the OS steps, before outpost's other steps. */
export const KUBERNETES_STEP = '20-kubernetes.sh';
export const MANIFESTS_DIR = 'kubernetes/manifests';
const HELM_VALUES_DIR = 'kubernetes/helm/values';
const HELM_CERTS_DIR = 'kubernetes/helm/certs';
/** Charts pulled at build time, kept with the build's other caches (the tarball is the image's artefact). */
export const PULLED_CHARTS_DIR = '_build/cache/charts';
/** Node label that names the outpost host a node runs on. */
export const HOST_LABEL = 'outpost.io/host';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Kubernetes in the image: the RKE2 release, images and charts as artefacts; per-role config.yaml files,
 * manifests and the first-boot step in the bundle. The cluster token is in the role files only, which are
 * flagged secret (redacted from every copy the build keeps).
 */
export async function kubernetesContribution(ctx: BundleContext): Promise<BundleContribution> {
  const k8s = ctx.definition.kubernetes;
  if (!k8s) return emptyContribution();
  const where = ctx.loaded.file;
  if (k8s.distribution !== 'rke2') {
    throw new InputError(`${where}: kubernetes.version: K3s is not supported by outpost yet (RKE2 only)`);
  }
  const arch = ctx.definition.image.arch;
  const { release, problems } = await checkRelease(ctx.configDir, arch, { verifyChecksums: false });
  if (!release) {
    throw new InputError(problems.map((p) => `${path.join(ctx.configDir, p.file)}: ${p.message}`).join('\n'));
  }
  const artefacts: BundleArtefact[] = [release.tarball, release.checksums, ...release.images]
    .concat(release.installScript ? [release.installScript] : [])
    .map((name) => ({ path: `${RELEASE_DIR}/${name}`, source: path.join(release.dir, name) }));

  const files: BundleFile[] = [];
  const images: string[] = [];
  for (const name of await plainFiles(path.join(ctx.configDir, IMAGES_DIR))) {
    const source = path.join(ctx.configDir, IMAGES_DIR, name);
    const wrongName = imageArchiveNameProblem(name);
    if (wrongName) throw new InputError(`${source}: ${wrongName}`);
    const names = await imageNames(source).catch((e: Error) => {
      throw new InputError(`${source}: cannot be read as an image archive: ${e.message}`);
    });
    if (names.length === 0) throw new InputError(`${source}: names no image (no RepoTags in manifest.json)`);
    images.push(...names);
    artefacts.push({ path: `${IMAGES_DIR}/${name}`, source });
  }
  if (images.length > 0)
    files.push({ path: 'kubernetes/registries.yaml', content: registriesYaml(images), mode: 0o644 });
  const serverConfig = await readConfigMap(ctx.configDir, 'kubernetes/config/server.yaml');
  const agentConfig = await readConfigMap(ctx.configDir, 'kubernetes/config/agent.yaml');
  const token = clusterToken(serverConfig, ctx.env ?? process.env);
  const configs = nodeConfigs({
    kubernetes: k8s,
    serverConfig,
    agentConfig,
    token,
    embeddedRegistry: images.length > 0,
  });
  files.push(
    ...NODE_ROLES.map((role) => ({
      path: `kubernetes/config/${role}.yaml`,
      content: renderConfig({ ...configs[role], 'node-label': undefined }),
      mode: 0o600,
      secret: true,
    })),
  );

  const manifests = await localManifests(ctx.configDir);
  for (const [i, url] of k8s.manifests.urls.entries()) {
    manifests.push({
      name: `dl-manifest-${i + 1}.yaml`,
      content: await download(url, `kubernetes.manifests.urls[${i}]`),
    });
  }
  const vip = vipManifest(k8s.network);
  if (vip) manifests.push({ name: 'outpost-kubernetes-vip.yaml', content: vip });
  const charts = await chartsFor(ctx, k8s);
  for (const c of charts) {
    artefacts.push({ path: `kubernetes/charts/${c.fileName}`, source: c.source });
    manifests.push({ name: `outpost-helmchart-${helmChartName(c.chart)}.yaml`, content: c.manifest });
  }
  files.push(
    ...manifests.map((m) => ({ path: `${MANIFESTS_DIR}/${m.name}`, content: m.content, mode: 0o644 })),
  );
  files.push(
    {
      path: 'kubernetes/report-kubernetes.sh',
      content: readTemplate('firstboot/report-kubernetes.sh'),
      mode: 0o755,
    },
    {
      path: 'kubernetes/outpost-kubernetes-report.service',
      content: readTemplate('firstboot/outpost-kubernetes-report.service'),
      mode: 0o644,
    },
  );
  const script = renderTemplate('firstboot/kubernetes.sh.hbs', {
    arch: releaseArch(arch),
    tarball: release.tarball,
    checksums: release.checksums,
    nodes: rolesByHost(k8s).flat(),
    serverLabels: listValue(configs.initializer['node-label']),
    agentLabels: listValue(configs.agent['node-label']),
    vipHosts: hostsEntries(k8s),
    serverManifestsDir: SERVER_MANIFESTS_DIR,
    staticChartsDir: STATIC_CHARTS_DIR,
    hostLabel: HOST_LABEL,
  });
  return { files, scripts: [{ name: KUBERNETES_STEP, content: script }], artefacts };
}

/** EIB's role lookup table: host name -> role; the initializer is the flagged server, else the first server. */
export function rolesByHost(k8s: Pick<Kubernetes, 'nodes'>): [string, NodeRole][] {
  if (k8s.nodes.length < 2) return [];
  const initializer = k8s.nodes.find((n) => n.initializer) ?? k8s.nodes.find((n) => n.type === 'server');
  return k8s.nodes.map((n) => [n.hostname, n === initializer ? 'initializer' : n.type]);
}

/** `<VIP> <apiHost>` lines for /etc/hosts, as EIB writes them. */
function hostsEntries(k8s: Kubernetes): string[] {
  const host = k8s.network?.apiHost;
  if (!host) return [];
  return [k8s.network?.apiVIP, k8s.network?.apiVIP6]
    .filter((v): v is string => !!v)
    .map((v) => `${v} ${host}`);
}

/**
 * The token: server.yaml's `token` (a literal, or `${NAME}` read from the build's environment), else a new
 * random one for this build.
 */
export function clusterToken(serverConfig: Record<string, unknown>, env: Env): string {
  const given = serverConfig.token;
  const problem = tokenProblem(given, env);
  if (problem) throw new InputError(`kubernetes/config/server.yaml: token: ${problem}`);
  if (given === undefined || given === null) return randomBytes(24).toString('hex');
  const ref = ENV_REFERENCE.exec(given as string);
  return ref ? env[ref[1]!]! : (given as string);
}

/** A YAML mapping of the config dir (`{}` when the file is missing); anything else is an InputError naming the file. */
export async function readConfigMap(configDir: string, relative: string): Promise<Record<string, unknown>> {
  const text = await readFile(path.join(configDir, relative), 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  const value: unknown = parse(text);
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InputError(`${path.join(configDir, relative)}: must be a YAML mapping`);
  }
  return value as Record<string, unknown>;
}

/** Regular files directly in `dir` (sorted); a missing folder is empty; links and sub-folders are refused. */
async function plainFiles(dir: string): Promise<string[]> {
  const info = await lstat(dir).catch(() => undefined);
  if (info?.isSymbolicLink())
    throw new InputError(`${dir}: must be a folder, not a link (nothing is read through links)`);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!(await lstat(path.join(dir, name))).isFile()) {
      throw new InputError(`${path.join(dir, name)}: must be a regular file (not a link or a folder)`);
    }
  }
  return names.sort();
}

async function localManifests(configDir: string): Promise<{ name: string; content: string }[]> {
  const dir = path.join(configDir, MANIFESTS_DIR);
  const names = (await plainFiles(dir)).filter((n) => /\.ya?ml$/.test(n));
  for (const name of names) {
    // RKE2's deploy controller names an Addon object after the file.
    const wrongName = manifestNameProblem(name);
    if (wrongName) throw new InputError(`${path.join(dir, name)}: ${wrongName}`);
  }
  return Promise.all(
    names.map(async (name) => ({ name, content: await readFile(path.join(dir, name), 'utf8') })),
  );
}

async function download(url: string, field: string): Promise<string> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.text();
  } catch (error) {
    throw new InputError(
      `${field}: cannot download ${url}: ${error instanceof Error ? error.message : error}`,
    );
  }
}

interface PreparedChart {
  chart: HelmChart;
  fileName: string;
  source: string;
  manifest: string;
}

/** Every chart (the definition's, plus EIB's VIP charts), from `kubernetes/helm/charts/` or pulled at build time. */
async function chartsFor(ctx: BundleContext, k8s: Kubernetes): Promise<PreparedChart[]> {
  const wanted = wantedCharts(k8s);
  const prepared: PreparedChart[] = [];
  const names = new Set<string>();
  for (const want of wanted) {
    const { chart, field, pullFrom } = want;
    const name = helmChartName(chart);
    const wrongName = helmChartNameProblem(name, names);
    if (wrongName) throw new InputError(`${ctx.loaded.file}: ${field}: ${wrongName}`);
    names.add(name);
    const fileName = chartFileName(chart);
    const source = await findChart(ctx, fileName, want);
    const valuesContent = chart.valuesFile
      ? await readFile(path.join(ctx.configDir, HELM_VALUES_DIR, chart.valuesFile), 'utf8')
      : undefined;
    const manifest = helmChartManifest({
      chart,
      repositoryUrl: pullFrom?.url,
      fileName,
      sha256: await sha256File(source),
      valuesContent,
    });
    prepared.push({ chart, fileName, source, manifest });
  }
  return prepared;
}

async function findChart(ctx: BundleContext, fileName: string, want: WantedChart): Promise<string> {
  const { chart, field, repository } = want;
  const local = path.join(ctx.configDir, LOCAL_CHARTS_DIR, fileName);
  const info = await lstat(local).catch(() => undefined);
  const problem = chartSourceProblem(
    want,
    info ? (info.isFile() ? 'file' : 'not a regular file') : 'missing',
  );
  if (problem) throw new InputError(`${ctx.loaded.file}: ${field}: ${problem}`);
  if (info) return local;
  if (!repository) throw new Error('unreachable: a chart without a local tarball or repository passed');
  const target = path.join(ctx.configDir, PULLED_CHARTS_DIR, repository.name, fileName);
  await pullChart({
    repository,
    chart,
    target,
    caFile: repository.caFile ? path.join(ctx.configDir, HELM_CERTS_DIR, repository.caFile) : undefined,
    field: `${ctx.loaded.file}: ${field}`,
  });
  return target;
}

/**
 * The cluster token the bundle carries (whatever its source), for the build to keep next to its log with
 * mode 0600: nodes added later need it, and it is in no other copy the build keeps.
 */
export function bundledClusterToken(files: readonly BundleFile[]): string | undefined {
  const config = files.find((f) => f.path === 'kubernetes/config/initializer.yaml');
  if (!config) return undefined;
  const text =
    typeof config.content === 'string' ? config.content : Buffer.from(config.content).toString('utf8');
  const token = (parse(text) as Record<string, unknown> | null)?.token;
  return typeof token === 'string' ? token : undefined;
}
