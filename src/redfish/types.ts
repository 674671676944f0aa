/**
 * Out-of-band hardware inventory, shaped like Metal3's BareMetalHost `status.hardware`. A field the BMC
 * did not answer (a linked collection that is missing or fails) is left out and named in `unknown`,
 * so "unknown" is never shown as zero.
 */
export interface HardwareInventory {
  systemVendor: { manufacturer: string; productName: string; serialNumber: string };
  firmware: { bios: { version: string }; bmc?: { version: string } };
  /** Present, enabled CPUs only (no absent sockets, no FPGAs/GPUs); count is threads, as in Metal3. */
  cpu?: { count: number; model: string; clockMegahertz?: number; arch: string };
  ramMebibytes?: number;
  nics: { name: string; mac: string; speedGbps: number }[];
  storage?: {
    name: string;
    sizeBytes: number;
    model: string;
    serialNumber: string;
    rotational: boolean;
    type: string;
  }[];
  bootMode?: string;
  /** Inventory fields the BMC could not tell (e.g. `cpu`, `ramMebibytes`, `storage`). */
  unknown?: string[];
}

/** What a ComputerSystem's PowerState can be (Redfish's transitional `Paused`/`Reset` are read as `On`). */
export const POWER_STATES = ['On', 'Off', 'PoweringOn', 'PoweringOff'] as const;
export type PowerState = (typeof POWER_STATES)[number];
export type PowerAction = 'on' | 'off' | 'soft-off' | 'reboot';
export type BootTarget = 'Cd' | 'Hdd' | 'Pxe';
/** How long a boot override lasts: the next boot only, or until changed. */
export type BootOverrideMode = 'Once' | 'Continuous';

/**
 * What the client did, for the caller's log. Never carries credentials, tokens or request bodies
 * that could contain them (InsertMedia bodies are reduced to their key names).
 */
export interface RedfishEvent {
  /**
   * `warning`: the BMC did not do or tell what was asked and the client carried on another way (an
   * optional resource missing, a boot override read back differently); the caller shows these to the user.
   */
  type:
    | 'request'
    | 'retry'
    | 'session'
    | 'fallback'
    | 'quirk'
    | 'task'
    | 'power'
    | 'media'
    | 'boot'
    | 'warning';
  message: string;
  method?: string;
  path?: string;
  status?: number;
  durationMs?: number;
}

/** A failed Redfish operation. `retriable` says whether trying the whole operation later may help. */
export class RedfishError extends Error {
  status?: number;
  retriable: boolean;
  /** Redfish `MessageId`s from the error body, e.g. `Base.1.8.PropertyUnknown`. */
  messageIds: string[];

  constructor(
    message: string,
    options: { status?: number; retriable?: boolean; messageIds?: string[]; cause?: unknown } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'RedfishError';
    if (options.status !== undefined) this.status = options.status;
    this.retriable = options.retriable ?? false;
    this.messageIds = options.messageIds ?? [];
  }
}
