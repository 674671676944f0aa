import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Diagnostic } from '../../common/diagnostics.ts';
import { YamlSource } from '../../common/yaml-cursor.ts';
import type { ConfigDirCheckContext } from '../config-dir-checks.ts';
import { SECTIONS } from '../section-names.ts';
import { listDirectory } from './directories.ts';

export const HELM_VALUES_DIR = 'kubernetes/helm/values';
export const HELM_CERTS_DIR = 'kubernetes/helm/certs';
export const MANIFESTS_DIR = 'kubernetes/manifests';
export const KUBERNETES_CONFIG_FILES = ['kubernetes/config/server.yaml', 'kubernetes/config/agent.yaml'];

/** Values files and repository CA files named by the definition exist; values files are YAML mappings. */
export async function checkHelmFiles(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const helm = ctx.definition.kubernetes?.helm;
  const checks: Promise<Diagnostic[]>[] = [];
  (helm?.charts ?? []).forEach((chart, i) => {
    // Names that are not plain .yaml file names were reported by the parser already.
    if (!chart.valuesFile || !/^[^/]+\.ya?ml$/.test(chart.valuesFile)) return;
    const relative = `${HELM_VALUES_DIR}/${chart.valuesFile}`;
    checks.push(
      requireFile(ctx, relative, `kubernetes.helm.charts[${i}].valuesFile`).then(async (missing) =>
        missing.length ? missing : yamlProblems(ctx, relative, { mapping: true }),
      ),
    );
  });
  (helm?.repositories ?? []).forEach((repo, i) => {
    if (!repo.caFile || !/^[^/]+\.(pem|crt|cer)$/.test(repo.caFile)) return;
    checks.push(
      requireFile(ctx, `${HELM_CERTS_DIR}/${repo.caFile}`, `kubernetes.helm.repositories[${i}].caFile`),
    );
  });
  return (await Promise.all(checks)).flat();
}

/** Local manifests and the RKE2/K3s config files parse as YAML, so a typo shows up now and not at first boot. */
export async function checkKubernetesFiles(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const entries = await listDirectory(path.join(ctx.configDir, MANIFESTS_DIR));
  const manifests = Array.isArray(entries) ? entries.sort().map((name) => `${MANIFESTS_DIR}/${name}`) : [];
  const checks = manifests.map(async (relative) => {
    if (!/\.ya?ml$/.test(relative)) {
      return [ctx.atFile(relative, 'must be a .yaml or .yml Kubernetes manifest', SECTIONS.kubernetes)];
    }
    return yamlProblems(ctx, relative, { multiDocument: true });
  });
  for (const relative of KUBERNETES_CONFIG_FILES) {
    checks.push(
      stat(path.join(ctx.configDir, relative)).then(
        () => yamlProblems(ctx, relative, { mapping: true }),
        () => [],
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
  const info = await stat(path.join(ctx.configDir, relative)).catch(() => undefined);
  if (info?.isFile()) return [];
  const what = info ? 'is not a file' : 'not found';
  return [ctx.atField(field, `${ctx.displayPath(relative)} ${what}`, SECTIONS.kubernetes)];
}

async function yamlProblems(
  ctx: ConfigDirCheckContext,
  relative: string,
  opts: { mapping?: boolean; multiDocument?: boolean },
): Promise<Diagnostic[]> {
  const text = await readFile(path.join(ctx.configDir, relative), 'utf8');
  const source = new YamlSource(ctx.displayPath(relative), text, {}, SECTIONS.kubernetes, {
    multiDocument: opts.multiDocument,
  });
  if (opts.mapping && source.ok && source.root.present && !source.root.isMap) {
    source.root.error('must be a YAML mapping');
  }
  return source.diagnostics.map((d) => ({ ...d, section: SECTIONS.kubernetes }));
}
