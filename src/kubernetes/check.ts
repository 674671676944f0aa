import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { findInside, listInside } from '../common/contained-fs.ts';
import type { Diagnostic } from '../common/diagnostics.ts';
import { isSafePathComponent } from '../common/names.ts';
import { MANIFESTS_DIR, readYamlInside, SERVER_CONFIG } from '../definition/checks/kubernetes-files.ts';
import type { ConfigDirCheckContext } from '../definition/config-dir-checks.ts';
import { SECTIONS } from '../definition/section-names.ts';
import type { HelmChart, HelmRepository } from '../definition/types.ts';
import { chartFileName, helmChartName } from './manifests.ts';
import { checkRelease } from './release.ts';
import {
  chartSourceProblem,
  helmChartNameProblem,
  IMAGES_DIR,
  imageArchiveNameProblem,
  LOCAL_CHARTS_DIR,
  type LocalChart,
  manifestNameProblem,
  tokenProblem,
  wantedCharts,
} from './rules.ts';

/**
 * `outpost validate` (and every build, before anything is written): the RKE2 release in
 * `kubernetes/install/` is complete and every archive matches the release's sha256sum file.
 */
export async function checkKubernetesRelease(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const k8s = ctx.definition.kubernetes;
  const arch = ctx.definition.image?.arch;
  if (!k8s || k8s.distribution !== 'rke2' || !arch) return [];
  const { problems } = await checkRelease(ctx.configDir, arch);
  return problems.map((p) => ctx.atFile(p.file, p.message, SECTIONS.kubernetes));
}

/**
 * `outpost validate` (and every build, before anything is written): every chart the image carries (the
 * definition's, and EIB's VIP charts with an API VIP) can be had, from kubernetes/helm/charts/ or a
 * repository the build pulls from (rules.ts chartSourceProblem, which the build applies too). Not run by
 * `outpost artefacts pull`, which fetches them.
 */
export async function checkChartSources(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const k8s = ctx.definition.kubernetes;
  // K3s is refused on its own (checkKubernetesBuildRules).
  if (!k8s || k8s.distribution !== 'rke2') return [];
  const all = k8s.helm?.charts ?? [];
  // Charts without a usable name or version, or naming no repository of the definition, have their own
  // problem already (the section's check).
  const charts = all.filter(
    (c) => typeof c?.name === 'string' && typeof c.version === 'string' && c.name !== '' && c.version !== '',
  ) as HelmChart[];
  const repositories = (k8s.helm?.repositories ?? []).filter(
    (r) => typeof r?.name === 'string' && typeof r.url === 'string',
  ) as HelmRepository[];
  const problems: Diagnostic[] = [];
  for (const want of wantedCharts({ network: k8s.network, helm: { charts, repositories } })) {
    const index = all.indexOf(want.chart);
    if (index >= 0 && !want.repository) continue;
    const fileName = chartFileName(want.chart);
    if (!isSafePathComponent(fileName)) continue;
    const problem = chartSourceProblem(want, await localChart(ctx.configDir, fileName));
    if (!problem) continue;
    problems.push(
      ctx.atField(
        index >= 0 ? `kubernetes.helm.charts[${index}].name` : want.field,
        problem,
        SECTIONS.kubernetes,
      ),
    );
  }
  return problems;
}

/** What the build finds at a chart's place in kubernetes/helm/charts/ (it does not follow links there). */
async function localChart(configDir: string, fileName: string): Promise<LocalChart> {
  const info = await lstat(path.join(configDir, LOCAL_CHARTS_DIR, fileName)).catch(() => undefined);
  if (!info) return 'missing';
  return info.isFile() ? 'file' : 'not a regular file';
}

/**
 * The rules the build's Kubernetes step applies (src/kubernetes/rules.ts), reported by `outpost validate`
 * with positions, so a build never meets them after it has started: the distribution, HelmChart and
 * manifest names RKE2 accepts, image archive names, server.yaml's token, and regular files (the build
 * reads kubernetes/manifests and kubernetes/images without following links).
 */
export async function checkKubernetesBuildRules(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const k8s = ctx.definition.kubernetes;
  if (!k8s) return [];
  const problems: Diagnostic[] = [];
  const at = (field: string, message: string) => ctx.atField(field, message, SECTIONS.kubernetes);
  if (k8s.distribution === 'k3s')
    problems.push(at('kubernetes.version', 'K3s is not supported by outpost yet (RKE2 only)'));

  // The charts the image carries (the definition's, then EIB's VIP charts), named as the build names them.
  // Charts without a name have their own problem already, and so have two of the definition's charts
  // with one release name (the section's check): a clash is reported here only when it is another one.
  const all = k8s.helm?.charts ?? [];
  const named = all.filter((c) => typeof c?.name === 'string' && c.name !== '') as HelmChart[];
  /** HelmChart name -> the definition's release name that took it, or undefined for a VIP chart. */
  const seen = new Map<string, string | undefined>();
  for (const { chart } of wantedCharts({ network: k8s.network, helm: { charts: named, repositories: [] } })) {
    const name = helmChartName(chart);
    const index = all.indexOf(chart);
    const release = index < 0 ? undefined : (chart.releaseName ?? chart.name);
    const reported = release !== undefined && seen.get(name) === release;
    const problem = reported ? undefined : helmChartNameProblem(name, new Set(seen.keys()));
    seen.set(name, release);
    if (!problem) continue;
    // EIB's VIP charts come with the VIP: a clash with one is pointed at kubernetes.network.
    if (index < 0) problems.push(at('kubernetes.network', `EIB's API VIP chart ${chart.name}: ${problem}`));
    else
      problems.push(
        at(`kubernetes.helm.charts[${index}].${chart.releaseName ? 'releaseName' : 'name'}`, problem),
      );
  }

  problems.push(
    ...(await regularFiles(ctx, MANIFESTS_DIR, (name) =>
      /\.ya?ml$/.test(name) ? manifestNameProblem(name) : undefined,
    )),
  );
  problems.push(...(await regularFiles(ctx, IMAGES_DIR, imageArchiveNameProblem)));

  const { source } = await readYamlInside(ctx, SERVER_CONFIG);
  if (source?.ok && source.root.isMap) {
    const token = source.root.get('token');
    const problem = tokenProblem(token.toJS(), ctx.env ?? {});
    if (problem) token.error(problem);
    problems.push(...source.diagnostics.map((d) => ({ ...d, section: SECTIONS.kubernetes })));
  }
  return problems;
}

/**
 * Entries of a folder the build reads without following links: each must be a regular file, and pass
 * `nameProblem`. Names that are not plain file names, links that leave the config dir and unreadable
 * folders are reported by the config-dir checks already.
 */
async function regularFiles(
  ctx: ConfigDirCheckContext,
  folder: string,
  nameProblem: (name: string) => string | undefined,
): Promise<Diagnostic[]> {
  const listed = await listInside(ctx.configDir, folder);
  if (listed.kind !== 'entries') return [];
  const problems: Diagnostic[] = [];
  for (const name of listed.names) {
    if (!isSafePathComponent(name)) continue;
    const relative = `${folder}/${name}`;
    const info = await lstat(path.join(ctx.configDir, relative)).catch(() => undefined);
    if (!info?.isFile()) {
      // A link that stays inside is fine for the other checks, not for the build; the rest is theirs.
      if (info?.isSymbolicLink() && (await findInside(ctx.configDir, relative)).kind === 'file')
        problems.push(
          ctx.atFile(
            relative,
            'must be a regular file, not a link (the build does not follow links here)',
            SECTIONS.kubernetes,
          ),
        );
      continue;
    }
    const problem = nameProblem(name);
    if (problem) problems.push(ctx.atFile(relative, problem, SECTIONS.kubernetes));
  }
  return problems;
}
