/**
 * The image definition after parsing and validation: Edge Image Builder's schema (apiVersion 1.0–1.3)
 * with values normalised (imageType lower-case, environment references resolved).
 */
export type ApiVersion = '1.0' | '1.1' | '1.2' | '1.3';
export type ImageType = 'raw' | 'iso';
export type Arch = 'x86_64' | 'aarch64';

export interface ImageDefinition {
  apiVersion: ApiVersion;
  image: ImageSection;
  operatingSystem: OperatingSystem;
  kubernetes?: Kubernetes;
  embeddedArtifactRegistry?: EmbeddedArtifactRegistry;
}

export interface ImageSection {
  imageType: ImageType;
  arch: Arch;
  /** File name under `base-images/`. */
  baseImage: string;
  /** Bare file name written to the config directory root. */
  outputImageName: string;
}

export interface User {
  username: string;
  uid?: number;
  encryptedPassword?: string;
  sshKeys: string[];
  primaryGroup?: string;
  secondaryGroups: string[];
  createHomeDir?: boolean;
}

export interface Group {
  name: string;
  gid?: number;
}

export interface OperatingSystem {
  kernelArgs: string[];
  groups: Group[];
  users: User[];
  systemd: { enable: string[]; disable: string[] };
  time?: { timezone?: string; ntp?: { pools: string[]; servers: string[]; forceWait?: boolean } };
  proxy?: { httpProxy?: string; httpsProxy?: string; noProxy: string[] };
  keymap?: string;
  isoConfiguration?: { installDevice?: string };
  rawConfiguration?: {
    /** Bytes, from EIB's `<n>M|G|T`. */
    diskSize?: number;
    diskSizeText?: string;
  };
}

export interface KubernetesNode {
  hostname: string;
  type: 'server' | 'agent';
  initializer: boolean;
}

export interface HelmChart {
  name: string;
  repositoryName: string;
  version: string;
  releaseName?: string;
  targetNamespace?: string;
  createNamespace?: boolean;
  installationNamespace?: string;
  valuesFile?: string;
  apiVersions: string[];
}

export interface HelmRepository {
  name: string;
  url: string;
  authentication?: { username: string; password: string };
  plainHTTP?: boolean;
  skipTLSVerify?: boolean;
  caFile?: string;
}

export interface Kubernetes {
  version: string;
  distribution: 'rke2' | 'k3s';
  network?: { apiVIP?: string; apiVIP6?: string; apiHost?: string };
  nodes: KubernetesNode[];
  manifests: { urls: string[] };
  helm: { charts: HelmChart[]; repositories: HelmRepository[] };
}

export interface EmbeddedArtifactRegistry {
  images: { name: string }[];
  registries: { uri: string; authentication?: { username: string; password: string } }[];
}

/** A definition loaded from disk, with what is needed to report on it safely. */
export interface LoadedDefinition {
  definition: ImageDefinition;
  /** Absolute path of the definition file. */
  file: string;
  /** Absolute path of the configuration directory. */
  configDir: string;
  /** Resolved environment values; never print them. */
  secrets: ReadonlySet<string>;
}

/**
 * What the parser could read from a definition that may still have problems: every field optional.
 * Cross-file checks run on it so one run reports every problem; only a definition without
 * diagnostics becomes an ImageDefinition.
 */
export type Draft<T> = T extends readonly (infer U)[]
  ? Draft<U>[]
  : T extends object
    ? { [K in keyof T]?: Draft<T[K]> }
    : T;

export type DefinitionDraft = Draft<ImageDefinition>;
