import { isSafePathComponent } from '../../common/names.ts';
import type { YamlCursor } from '../../common/yaml-cursor.ts';
import { type ParseContext, reportDuplicates } from '../parse-context.ts';
import type { Draft, HelmChart, HelmRepository, Kubernetes } from '../types.ts';

/** Helm's own rule for release names: a DNS label of at most 53 characters. */
const HELM_RELEASE = /^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$/;

/** Edge Image Builder's Helm rules (pkg/image/validation/kubernetes.go), each on the field it is about. */
export function parseHelm(cursor: YamlCursor, ctx: ParseContext): Draft<Kubernetes['helm']> {
  const f = ctx.fields(cursor, ['charts', 'repositories']);
  const charts = f.charts.items().map((item) => ({ chart: parseChart(item, ctx), item }));
  const repositories = f.repositories.items().map((item) => ({ repo: parseRepository(item, ctx), item }));

  // EIB (since PR #680): a chart may be listed twice; each release needs its own name.
  const names = new Map(charts.map(({ chart }, i) => [chart.name, i]));
  const takesAnotherName = (chart: Draft<HelmChart>, i: number) => {
    const other = chart.releaseName === undefined ? undefined : names.get(chart.releaseName);
    return other !== undefined && other !== i ? other : undefined;
  };
  reportDuplicates(
    charts.map(({ chart, item }, i) => ({
      value: takesAnotherName(chart, i) === undefined ? (chart.releaseName ?? chart.name) : undefined,
      at: chart.releaseName === undefined ? item.get('name') : item.get('releaseName'),
    })),
    (name) => `duplicate release '${name}': charts with the same name need distinct releaseNames`,
  );
  charts.forEach(({ chart, item }, i) => {
    const other = takesAnotherName(chart, i);
    if (other !== undefined) {
      item
        .get('releaseName')
        .error(
          `'${chart.releaseName}' is the name of another chart (charts[${other}]): choose another releaseName`,
        );
    }
  });
  reportDuplicates(
    repositories.map(({ repo, item }) => ({ value: repo.name, at: item.get('name') })),
    (name) => `duplicate repository '${name}'`,
  );

  const repositoryNames = new Set(repositories.map(({ repo }) => repo.name));
  const usedNames = new Set(charts.map(({ chart }) => chart.repositoryName));
  if (charts.length > 0 && repositories.length === 0) {
    f.charts.errorAtKey('needs helm.repositories to fetch the charts from');
  } else {
    for (const { chart, item } of charts) {
      if (chart.repositoryName !== undefined && !repositoryNames.has(chart.repositoryName)) {
        item
          .get('repositoryName')
          .error(`'${chart.repositoryName}' is not a repository in helm.repositories`);
      }
    }
  }
  for (const { repo, item } of repositories) {
    if (repo.name !== undefined && !usedNames.has(repo.name)) {
      item.get('name').error(`repository '${repo.name}' is not used by any chart`);
    }
  }
  return { charts: charts.map((c) => c.chart), repositories: repositories.map((r) => r.repo) };
}

function parseChart(item: YamlCursor, ctx: ParseContext): Draft<HelmChart> {
  const f = ctx.fields(item, [
    'name',
    'repositoryName',
    'version',
    'releaseName',
    'targetNamespace',
    'createNamespace',
    'installationNamespace',
    'valuesFile',
    'apiVersions',
  ]);
  const chart: Draft<HelmChart> = {
    name: f.name.string({ required: true }),
    repositoryName: f.repositoryName.string({ required: true }),
    version: f.version.string({ required: true }),
    releaseName: f.releaseName.string(),
    targetNamespace: f.targetNamespace.string(),
    createNamespace: f.createNamespace.boolean(),
    installationNamespace: f.installationNamespace.string(),
    valuesFile: f.valuesFile.string(),
    apiVersions: f.apiVersions.strings(),
  };
  if (chart.name === '') f.name.error('must not be empty');
  else if (chart.name !== undefined && !isSafePathComponent(chart.name)) {
    f.name.error(`'${chart.name}' is not a chart name (letters, digits, '.', '_', '-')`);
  }
  if (chart.version === '') f.version.error('must not be empty');
  if (chart.releaseName !== undefined && !HELM_RELEASE.test(chart.releaseName)) {
    f.releaseName.error(
      `'${chart.releaseName}' is not a Helm release name (lower-case letters, digits and '-', at most 53)`,
    );
  }
  if (chart.createNamespace && !chart.targetNamespace) f.createNamespace.errorAtKey('needs targetNamespace');
  if (chart.valuesFile !== undefined && !/^[^/]+\.ya?ml$/.test(chart.valuesFile)) {
    f.valuesFile.error(
      `must be the name of a .yaml or .yml file in kubernetes/helm/values/, not '${chart.valuesFile}'`,
    );
  }
  return chart;
}

function parseRepository(item: YamlCursor, ctx: ParseContext): Draft<HelmRepository> {
  const f = ctx.fields(item, ['name', 'url', 'authentication', 'plainHTTP', 'skipTLSVerify', 'caFile']);
  const repo: Draft<HelmRepository> = {
    name: f.name.string({ required: true }),
    url: f.url.string({ required: true }),
    authentication: parseAuthentication(f.authentication, ctx),
    plainHTTP: f.plainHTTP.boolean(),
    skipTLSVerify: f.skipTLSVerify.boolean(),
    caFile: f.caFile.string(),
  };
  const scheme = repo.url === undefined ? undefined : URL.parse(repo.url)?.protocol.slice(0, -1);
  if (repo.url !== undefined && !['http', 'https', 'oci'].includes(scheme ?? '')) {
    f.url.error(`must start with oci://, https:// or http://, not '${repo.url}'`);
  }
  if (scheme === 'http' && !repo.plainHTTP) f.url.error('is http:// but plainHTTP is not true');
  if (scheme === 'https' && repo.plainHTTP) f.plainHTTP.errorAtKey('cannot be true for an https:// URL');
  if (repo.plainHTTP && repo.skipTLSVerify) f.skipTLSVerify.errorAtKey('cannot be true with plainHTTP');
  else if (scheme === 'http' && repo.skipTLSVerify)
    f.skipTLSVerify.errorAtKey('cannot be true for an http:// URL');
  if (repo.caFile !== undefined) {
    if (repo.skipTLSVerify) f.caFile.errorAtKey('cannot be set with skipTLSVerify: true');
    else if (repo.plainHTTP || scheme === 'http') f.caFile.errorAtKey('cannot be set for plain HTTP');
    if (!/^[^/]+\.(pem|crt|cer)$/.test(repo.caFile)) {
      f.caFile.error(
        `must be the name of a .pem, .crt or .cer file in kubernetes/helm/certs/, not '${repo.caFile}'`,
      );
    }
  }
  return repo;
}

/** Credentials come in pairs; they are secrets, so messages never quote them. */
export function parseAuthentication(
  cursor: YamlCursor,
  ctx: ParseContext,
): Draft<HelmRepository['authentication']> {
  if (!cursor.present) return undefined;
  const f = ctx.fields(cursor, ['username', 'password']);
  return { username: f.username.string({ required: true }), password: f.password.string({ required: true }) };
}
