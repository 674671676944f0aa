/**
 * The first-boot bundle: what a domain (OS settings, network, kubernetes, custom files) contributes to
 * `/combustion` in the image. Scripts run once at first boot in lexical order, in EIB's bands:
 * 00-09 network, 10-19 OS, 20-29 kubernetes, 30-49 other, 50-99 user scripts.
 */
export interface BundleFile {
  /** Path relative to the bundle root (`/combustion`), e.g. `network/host_config.yaml`. */
  path: string;
  content: string | Uint8Array;
  mode: number;
  /** Holds secrets (password hashes, tokens): redacted in the build directory copy. */
  secret?: boolean;
}

export interface BundleScript {
  /** File name with its band prefix, e.g. `05-configure-network.sh`. */
  name: string;
  content: string;
}

/** Bulky payload copied from the build host into `/artefacts` (never into RAM at first boot). */
export interface BundleArtefact {
  /** Path relative to `/artefacts`. */
  path: string;
  /** Absolute path on the build host. */
  source: string;
}

export interface BundleContribution {
  files: BundleFile[];
  scripts: BundleScript[];
  artefacts: BundleArtefact[];
}
