import type { Diagnostic } from '../common/diagnostics.ts';
import type { ConfigDirCheckContext } from '../definition/config-dir-checks.ts';
import { SECTIONS } from '../definition/section-names.ts';
import { checkRelease } from './release.ts';

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
