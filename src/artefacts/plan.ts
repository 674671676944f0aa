import type { Arch } from '../definition/types.ts';
import { DEFAULT_CNI } from '../kubernetes/node-config.ts';
import { releaseArch, releaseNames } from '../kubernetes/release.ts';

/**
 * What `outpost artefacts pull` fetches for a definition, decided from the definition, its
 * `kubernetes/config/server.yaml` and the release's checksum list alone (no I/O here).
 */

/** RKE2's release downloads, as its install.sh and Edge Image Builder use them: `<base>/<version>/<file>`. */
export const RKE2_RELEASES_URL = 'https://github.com/rancher/rke2/releases/download';
/** Where RKE2 publishes its install.sh (not a release asset, and not in the checksum file). */
export const RKE2_INSTALL_SCRIPT_URL = 'https://get.rke2.io';
const COMPONENT = /^[a-z0-9][a-z0-9-]*$/;

/** A release file's URL: the version is one path segment, with `+` encoded as `%2B` as RKE2's own links do. */
export function releaseFileUrl(source: string, version: string, file: string): URL {
  return new URL(`${source.replace(/\/+$/, '')}/${encodeURIComponent(version)}/${encodeURIComponent(file)}`);
}

/** Values of a server.yaml key RKE2 takes as a string, a comma-separated string or a list. */
function listSetting(value: unknown, key: string): string[] | string {
  if (value === undefined || value === null) return [];
  const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (!items || items.some((v) => typeof v !== 'string'))
    return `${key}: must be a string, a comma-separated string or a list of strings`;
  return (items as string[]).map((v) => v.trim()).filter((v) => v !== '');
}

/**
 * The rke2-images archives a node of this definition needs, as Edge Image Builder picks them: the core
 * archive (or the combined `rke2-images` archive of releases without one), one per CNI named in
 * server.yaml's `cni` (default cilium, none for `none`; `multus,<cni>` gives both), and the archive of
 * each `ingress-controller` that has one of its own. `.tar.zst` is preferred to `.tar.gz`. `listed` is
 * the set of names in the release's sha256sum file. Problems name server.yaml's key.
 */
export function imageArchiveNames(
  serverConfig: Record<string, unknown>,
  arch: Arch,
  listed: ReadonlySet<string>,
): { names: string[]; problems: string[] } {
  const a = releaseArch(arch);
  const problems: string[] = [];
  const archive = (base: string) =>
    [`${base}.linux-${a}.tar.zst`, `${base}.linux-${a}.tar.gz`].find((n) => listed.has(n));
  const names: string[] = [];
  const core = archive('rke2-images-core') ?? archive('rke2-images');
  if (core) names.push(core);
  else problems.push(`the release lists neither rke2-images-core.linux-${a} nor rke2-images.linux-${a}`);

  const cni = serverConfig.cni === undefined ? [DEFAULT_CNI] : listSetting(serverConfig.cni, 'cni');
  const ingress = listSetting(serverConfig['ingress-controller'], 'ingress-controller');
  for (const [key, values, required] of [
    ['cni', cni, true],
    ['ingress-controller', ingress, false],
  ] as const) {
    if (typeof values === 'string') {
      problems.push(values);
      continue;
    }
    for (const component of values) {
      if (key === 'cni' && component === 'none') continue;
      if (!COMPONENT.test(component)) {
        problems.push(`${key}: '${component}' is not a component name (lower-case letters, digits and '-')`);
        continue;
      }
      const name = archive(`rke2-images-${component}`);
      // Ingress controllers without an archive of their own ship in the core archive.
      if (name) names.push(name);
      else if (required)
        problems.push(`${key}: the release has no rke2-images-${component}.linux-${a} archive`);
    }
  }
  const pattern = releaseNames(arch).images;
  return { names: [...new Set(names)].filter((n) => pattern.test(n)), problems };
}
