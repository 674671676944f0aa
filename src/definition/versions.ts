import type { ApiVersion } from './types.ts';

export const API_VERSIONS: readonly ApiVersion[] = ['1.0', '1.1', '1.2', '1.3'];

/**
 * Fields added after apiVersion 1.0, keyed by their path with list indexes removed
 * (Edge Image Builder's own table, pkg/image/validation/version.go).
 */
export const FIELD_INTRODUCED_IN: Readonly<Record<string, ApiVersion>> = {
  'kubernetes.helm.charts.apiVersions': '1.1',
  'operatingSystem.enableFIPS': '1.1',
  'kubernetes.network.apiVIP6': '1.2',
  'kubernetes.helm.charts.releaseName': '1.2',
  'operatingSystem.rawConfiguration.luksKey': '1.2',
  'operatingSystem.rawConfiguration.expandEncryptedPartition': '1.2',
  'operatingSystem.packages.enableExtras': '1.2',
  'embeddedArtifactRegistry.registries': '1.2',
  'operatingSystem.packages.additionalRepos.priority': '1.3',
};

/** The version that introduced the field at `path` when it is newer than `apiVersion`, else undefined. */
export function requiredVersion(path: string, apiVersion: ApiVersion): ApiVersion | undefined {
  const needed = FIELD_INTRODUCED_IN[path.replace(/\[\d+\]/g, '')];
  return needed && API_VERSIONS.indexOf(needed) > API_VERSIONS.indexOf(apiVersion) ? needed : undefined;
}
