import { findInside, listInside, readTextInside } from '../../common/contained-fs.ts';
import type { Diagnostic } from '../../common/diagnostics.ts';
import { isSafePathComponent } from '../../common/names.ts';
import { YamlSource } from '../../common/yaml-cursor.ts';
import type { ConfigDirCheckContext } from '../config-dir-checks.ts';
import { SECTIONS } from '../section-names.ts';

export const HELM_VALUES_DIR = 'kubernetes/helm/values';
export const HELM_CERTS_DIR = 'kubernetes/helm/certs';
export const MANIFESTS_DIR = 'kubernetes/manifests';
export const SERVER_CONFIG = 'kubernetes/config/server.yaml';
export const KUBERNETES_CONFIG_FILES = [SERVER_CONFIG, 'kubernetes/config/agent.yaml'];

/** Values files and repository CA files named by the definition exist; values files are YAML mappings. */
export async function checkHelmFiles(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const helm = ctx.definition.kubernetes?.helm;
  const checks: Promise<Diagnostic[]>[] = [];
  (helm?.charts ?? []).forEach((chart, i) => {
    // Names that are not plain .yaml file names were reported by the parser already.
    if (
      !chart.valuesFile ||
      !/^[^/]+\.ya?ml$/.test(chart.valuesFile) ||
      !isSafePathComponent(chart.valuesFile)
    )
      return;
    const relative = `${HELM_VALUES_DIR}/${chart.valuesFile}`;
    const field = `kubernetes.helm.charts[${i}].valuesFile`;
    checks.push(yamlProblems(ctx, relative, { mapping: true, field }));
  });
  (helm?.repositories ?? []).forEach((repo, i) => {
    if (!repo.caFile || !/^[^/]+\.(pem|crt|cer)$/.test(repo.caFile) || !isSafePathComponent(repo.caFile))
      return;
    checks.push(
      requireFile(ctx, `${HELM_CERTS_DIR}/${repo.caFile}`, `kubernetes.helm.repositories[${i}].caFile`),
    );
  });
  return (await Promise.all(checks)).flat();
}

/**
 * Local manifests and the RKE2/K3s config files parse as YAML, so a typo shows up now and not at first
 * boot. As in EIB, local manifests need a kubernetes section, and each document must be one Kubernetes
 * object (a mapping).
 */
export async function checkKubernetesFiles(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const listed = await listInside(ctx.configDir, MANIFESTS_DIR);
  const checks: Promise<Diagnostic[]>[] = [];
  if (listed.kind === 'problem') {
    checks.push(Promise.resolve([ctx.atFile(MANIFESTS_DIR, listed.message, SECTIONS.kubernetes)]));
  } else if (listed.kind === 'not a directory') {
    checks.push(Promise.resolve([ctx.atFile(MANIFESTS_DIR, 'must be a directory', SECTIONS.kubernetes)]));
  }
  const manifests = listed.kind === 'entries' ? listed.names.map((name) => `${MANIFESTS_DIR}/${name}`) : [];
  if (manifests.length > 0 && !ctx.definition.kubernetes) {
    checks.push(
      Promise.resolve([
        ctx.atField(
          'kubernetes',
          `${ctx.displayPath(MANIFESTS_DIR)} holds manifests: they need a kubernetes section with a version`,
          SECTIONS.kubernetes,
        ),
      ]),
    );
  }
  for (const relative of manifests) {
    const name = relative.slice(MANIFESTS_DIR.length + 1);
    const wrongName = !/\.ya?ml$/.test(name)
      ? 'must be a .yaml or .yml Kubernetes manifest'
      : !isSafePathComponent(name)
        ? "a manifest name may use only letters, digits, '.', '_' and '-'"
        : undefined;
    if (wrongName) {
      checks.push(Promise.resolve([ctx.atFile(relative, wrongName, SECTIONS.kubernetes)]));
      continue;
    }
    checks.push(yamlProblems(ctx, relative, { multiDocument: true, objects: true }));
  }
  for (const relative of KUBERNETES_CONFIG_FILES) {
    checks.push(
      findInside(ctx.configDir, relative).then((found) =>
        found.kind === 'missing' ? [] : yamlProblems(ctx, relative, { mapping: true }),
      ),
    );
  }
  return (await Promise.all(checks)).flat();
}

async function requireFile(
  ctx: ConfigDirCheckContext,
  relative: string,
  field: string,
): Promise<Diagnostic[]> {
  const found = await findInside(ctx.configDir, relative);
  if (found.kind === 'file') return [];
  const what =
    found.kind === 'missing' ? 'not found' : found.kind === 'directory' ? 'is not a file' : found.message;
  return [ctx.atField(field, `${ctx.displayPath(relative)} ${what}`, SECTIONS.kubernetes)];
}

/** Reads and parses a YAML file of the config dir; every failure is a positioned problem. */
export async function readYamlInside(
  ctx: ConfigDirCheckContext,
  relative: string,
  opts: { multiDocument?: boolean; field?: string } = {},
): Promise<{ source?: YamlSource; problems: Diagnostic[] }> {
  const read = await readTextInside(ctx.configDir, relative);
  if (read.kind !== 'text') {
    const message = read.kind === 'missing' ? 'not found' : read.message;
    const problem = opts.field
      ? ctx.atField(opts.field, `${ctx.displayPath(relative)} ${message}`, SECTIONS.kubernetes)
      : ctx.atFile(relative, message, SECTIONS.kubernetes);
    return { problems: [problem] };
  }
  const source = new YamlSource(ctx.displayPath(relative), read.text, {}, SECTIONS.kubernetes, {
    multiDocument: opts.multiDocument,
  });
  return { source, problems: [] };
}

async function yamlProblems(
  ctx: ConfigDirCheckContext,
  relative: string,
  opts: { mapping?: boolean; multiDocument?: boolean; objects?: boolean; field?: string },
): Promise<Diagnostic[]> {
  const { source, problems } = await readYamlInside(ctx, relative, opts);
  if (!source) return problems;
  if (opts.mapping && source.ok && source.root.present && !source.root.isMap) {
    source.root.error('must be a YAML mapping');
  }
  if (opts.objects && source.ok) {
    const documents = source.documents.filter((d) => d.present);
    if (documents.length === 0)
      source.root.error('is empty: a manifest holds at least one Kubernetes object');
    for (const doc of documents) {
      if (!doc.isMap)
        doc.error('each document must be one Kubernetes object (a mapping), not a list or a value');
    }
  }
  return source.diagnostics.map((d) => ({ ...d, section: SECTIONS.kubernetes }));
}
