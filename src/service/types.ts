/**
 * The management service's vocabulary. States follow Metal3's BareMetalHost provisioning states;
 * an error does not change the state (like Metal3's operationalStatus), it marks the host and
 * schedules a retry with backoff.
 */

export const HOST_STATES = [
  'registering',
  'inspecting',
  'available',
  'provisioning',
  'provisioned',
  'deprovisioning',
] as const;
export type HostState = (typeof HOST_STATES)[number];

/** Metal3's error types, so users of both read the same words. */
export type ErrorType =
  | 'registration error'
  | 'inspection error'
  | 'provisioning error'
  | 'deprovisioning error'
  | 'power management error';

export type HostRole = 'server' | 'agent';

export type PowerAction = 'on' | 'off' | 'reboot';

/** Where a host's BMC is and how to talk to it; credentials live elsewhere (see credentials.ts). */
export interface BmcSpec {
  address: string;
  disableCertificateVerification: boolean;
}

/** The desired description of a host, as imported from an inventory. */
export interface HostSpec {
  name: string;
  bmc: BmcSpec;
  bootMACAddress?: string;
  role: HostRole;
  online: boolean;
  labels: Record<string, string>;
  rootDeviceHints?: Record<string, string | number | boolean>;
  /** nmstate YAML, delivered to the host in its per-host config. */
  networkData?: string;
}

export interface Credentials {
  username: string;
  password: string;
}

/** An inventory entry: the spec plus the credentials that go to the credentials file, never the database. */
export interface InventoryHost {
  spec: HostSpec;
  credentials: Credentials;
}

export interface HostError {
  type: ErrorType;
  message: string;
  count: number;
  /** Epoch ms before which the reconciler leaves the host alone. */
  nextAttemptAt: number;
  /**
   * Retrying cannot help (a checksum mismatch, refused credentials): the host stays put until the user
   * acts as the message says (import again, deprovision, inspect).
   */
  permanent?: boolean;
}

/** Hardware details like Metal3's status.hardware. */
export interface Hardware {
  systemVendor?: { manufacturer?: string; productName?: string; serialNumber?: string };
  firmware?: { bios?: { version?: string } };
  cpu?: { count?: number; model?: string; clockMegahertz?: number; arch?: string };
  ramMebibytes?: number;
  nics?: { name?: string; mac?: string; speedGbps?: number }[];
  storage?: unknown[];
  bootMode?: string;
  [key: string]: unknown;
}

export interface ProvisioningRequest {
  /** URL the BMC fetches: the media server's short URL, or an external one. */
  imageUrl: string;
  /** What the user asked for, e.g. `site.iso`. */
  image: string;
  /**
   * A raw image in the media dir: the service builds this host's installer ISO (inserted as `imageUrl`),
   * which writes the image to disk. Unset when the user's ISO is inserted as it is.
   */
  installerImage?: string;
  /**
   * The media-dir name of this host's installer ISO (`hosts/<128 random bits>.iso`): it carries the host's
   * callback token, so its URL must not be guessable from the host's name.
   */
  installerIso?: string;
  consumer?: string;
  /**
   * False when the image cannot report to the service (an ISO inserted as it is, `--no-callbacks`): the
   * installer and first-boot steps then watch the BMC instead (the CD boot consumed, then a boot from disk).
   */
  callbacks?: false;
  /** BootProgress.LastStateTime the BMC reported when the CD boot was seen (no-callbacks provisioning). */
  cdBootSeenAt?: string;
}

export interface HostRecord {
  id: string;
  name: string;
  spec: HostSpec;
  state: HostState;
  /** The step within the state that runs next (persisted, so a restart resumes there). */
  step: string;
  stepStartedAt: number;
  provisioning?: ProvisioningRequest;
  /** A power action waiting to run once the host is in a stable state. */
  powerRequest?: PowerAction;
  powerState?: string;
  /** When the BMC last reported `powerState` for a stable host (the periodic power sync). */
  powerCheckedAt?: number;
  hardware?: Hardware;
  error?: HostError;
  installProgress?: number;
  callbackTokenHash?: string;
  createdAt: number;
  updatedAt: number;
}

export type EventLevel = 'Normal' | 'Warning';

export interface HostEvent {
  id: number;
  hostName: string;
  time: number;
  level: EventLevel;
  reason: string;
  message: string;
}

/** One row of the operation history: a state's step from start to end. */
export interface Operation {
  id: number;
  hostName: string;
  state: HostState | 'power';
  step: string;
  startedAt: number;
  endedAt?: number;
  result: 'running' | 'succeeded' | 'failed' | 'abandoned';
  message?: string;
}
