/** Names that group diagnostics when printed, in the order the groups are printed. */
export const SECTIONS = {
  yaml: 'YAML',
  definition: 'Definition',
  version: 'Version',
  image: 'Image',
  operatingSystem: 'Operating system',
  kubernetes: 'Kubernetes',
  registry: 'Embedded artifact registry',
  custom: 'Custom files',
  network: 'Network',
  configDir: 'Config directory',
} as const;

const ORDER: readonly string[] = Object.values(SECTIONS);

/** Sort rank of a section; sections not listed here come last. */
export function sectionRank(section: string | undefined): number {
  const rank = ORDER.indexOf(section ?? '');
  return rank < 0 ? ORDER.length : rank;
}
