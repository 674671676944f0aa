import type { PowerState } from '../redfish/types.ts';

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

/**
 * The host lifecycle as data: each state is a list of idempotent steps run in order, then the next state.
 * The current step is persisted, so a restart re-runs at most the step that was under way — and every
 * step checks before it acts (power on only when off), so re-running it does not act twice.
 */
export const FLOWS = {
  registering: ['connect'],
  inspecting: ['inspect'],
  available: [],
  provisioning: [
    'power-off',
    'prepare-media',
    'insert-media',
    'boot-once',
    'power-on',
    'installer',
    'boot-disk',
    'first-boot',
    'eject-media',
  ],
  provisioned: [],
  // Then cleaning, like Metal3's automated (metadata) cleaning: the installer ISO in wipe mode clears
  // every disk's partition tables and filesystem signatures and reports through its callback.
  deprovisioning: [
    'power-off',
    'eject-media',
    'prepare-cleaning',
    'insert-cleaning-media',
    'boot-cleaning',
    'power-on-cleaning',
    'cleaning',
    'power-off-cleaned',
    'eject-cleaning-media',
  ],
} as const satisfies Record<HostState, readonly string[]>;

/** A step of some state's flow. */
export type Step = (typeof FLOWS)[HostState][number];

/** The steps of one state's flow. */
export type StepOf<S extends HostState> = (typeof FLOWS)[S][number];

/** Where a host stands within its state: the step that runs next, or '' in a state without steps. */
export type HostStep = Step | '';

/** Metal3's error types, so users of both read the same words. */
export type ErrorType =
  | 'registration error'
  | 'inspection error'
  | 'provisioning error'
  | 'deprovisioning error'
  | 'power management error';

export type HostRole = 'server' | 'agent';

/** What a user may ask of a stable host's power (`outpost hosts power`). */
export const POWER_ACTIONS = ['on', 'off', 'reboot'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

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
  /**
   * Metal3's `automatedCleaningMode`: `metadata` (default) wipes the disks' partition tables and
   * filesystem signatures before a deprovisioned host is available again; `disabled` skips that.
   */
  automatedCleaningMode?: AutomatedCleaningMode;
}

export const AUTOMATED_CLEANING_MODES = ['metadata', 'disabled'] as const;
export type AutomatedCleaningMode = (typeof AUTOMATED_CLEANING_MODES)[number];

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
  step: HostStep;
  stepStartedAt: number;
  provisioning?: ProvisioningRequest;
  /** While deprovisioning with cleaning: the media server's URL prefix the BMC fetches the cleaning ISO from. */
  mediaBaseUrl?: string;
  /** A power action waiting to run once the host is in a stable state. */
  powerRequest?: PowerAction;
  powerState?: PowerState;
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

/**
 * What an operation is about: a state's step (`''` for the state as a whole), or a power action (state
 * `power`).
 */
export type OperationStep = HostStep | PowerAction;

/** One row of the operation history: a state's step from start to end. */
export interface Operation {
  id: number;
  hostName: string;
  state: HostState | 'power';
  step: OperationStep;
  startedAt: number;
  endedAt?: number;
  result: 'running' | 'succeeded' | 'failed' | 'abandoned';
  message?: string;
}
