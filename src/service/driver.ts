import { parseBmcAddress } from '../redfish/bmc-address.ts';
import { type BootStatus, RedfishClient, RedfishError } from '../redfish/client.ts';
import type {
  BootOverrideMode,
  BootTarget,
  HardwareInventory,
  PowerAction,
  PowerState,
} from '../redfish/types.ts';
import { observeRedfish } from './metrics.ts';
import type { Credentials } from './types.ts';

/** What the lifecycle needs from a BMC; the Redfish details stay in src/redfish. */
export interface BmcSession {
  inspect(): Promise<HardwareInventory>;
  powerState(): Promise<PowerState>;
  power(action: PowerAction): Promise<void>;
  insertMedia(url: string): Promise<void>;
  ejectMedia(): Promise<void>;
  /** Resolves to the override the BMC kept: `Continuous` when it ignores or refuses `Once`. */
  setBootOnce(target: BootTarget): Promise<BootOverrideMode>;
  bootOverride(): Promise<{ enabled: string; target: string }>;
  /** The disk as the persistent boot device. */
  setBootDisk(): Promise<void>;
  /** Boot progress and the override in force, for watching a host that cannot call back. */
  bootStatus(): Promise<BootStatus>;
  /**
   * What the BMC did not do or tell as asked, since the last call (optional resources missing, a boot
   * override read back differently): the service records each as a Warning event.
   */
  takeWarnings(): string[];
  close(): Promise<void>;
}

export interface BmcTarget {
  address: string;
  credentials: Credentials;
  disableCertificateVerification: boolean;
  /** Called before each retry of a failed request, e.g. (3, 10, 'GET /redfish/v1/: connect ECONNREFUSED'). */
  onRetry?: (attempt: number, attempts: number, reason: string) => void;
  /** Aborted when the service stops; a driver may use it to cancel requests under way. */
  signal?: AbortSignal;
}

export interface BmcDriver {
  /** Connects and checks the credentials; rejects with a message fit for the host's errorMessage. */
  connect(target: BmcTarget): Promise<BmcSession>;
}

export interface RedfishDriverOptions {
  /** PEM CA certificates BMC certificates are verified with (e.g. the site's BMC CA), instead of the system's. */
  caCertificates?: string;
  timeoutMs?: number;
  retry?: { attempts: number; delayMs: number };
  powerTimeoutMs?: number;
}

/** The production driver: one Redfish session per unit of work, deleted afterwards. */
export function redfishDriver(opts: RedfishDriverOptions = {}): BmcDriver {
  return {
    async connect(target) {
      const parsed = parseBmcAddress(target.address);
      if (!parsed.ok) throw new Error(parsed.error);
      const attempts = opts.retry?.attempts ?? 10;
      let warnings: string[] = [];
      const client = await observeRedfish((record) =>
        RedfishClient.connect({
          address: parsed.value,
          username: target.credentials.username,
          password: target.credentials.password,
          disableCertificateVerification: target.disableCertificateVerification,
          ...(opts.caCertificates !== undefined && { caCertificates: opts.caCertificates }),
          ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
          ...(opts.retry !== undefined && { retry: opts.retry }),
          ...(opts.powerTimeoutMs !== undefined && { powerTimeoutMs: opts.powerTimeoutMs }),
          ...(target.signal && { signal: target.signal }),
          onEvent: (event) => {
            record(event);
            if (event.type === 'warning') warnings.push(event.message);
            // The transport reports `<reason>; retry <failed attempt> in <ms> ms` before it tries again.
            const retry = event.type === 'retry' ? /^(.*); retry (\d+) in \d+ ms$/.exec(event.message) : null;
            if (retry) target.onRetry?.(Number(retry[2]) + 1, attempts, retry[1]!);
          },
        }),
      );
      return {
        inspect: () => client.inspect(),
        powerState: () => client.powerState(),
        power: (action) => client.power(action),
        insertMedia: (url) => client.insertMedia(url),
        ejectMedia: () => client.ejectMedia(),
        setBootOnce: (bootTarget) => client.setBootOnce(bootTarget),
        bootOverride: () => client.bootOverride(),
        setBootDisk: () => client.setBootDisk(),
        bootStatus: () => client.bootStatus(),
        takeWarnings: () => {
          const taken = warnings;
          warnings = [];
          return taken;
        },
        close: () => client.close(),
      };
    },
  };
}

/** BMC answers that retrying cannot change: the credentials are refused. */
export function isRefusedCredentials(error: unknown): boolean {
  return error instanceof RedfishError && (error.status === 401 || error.status === 403);
}

/** A one-line reason for a failed BMC call, with the HTTP status when there was one. */
export function describeBmcError(error: unknown): string {
  if (error instanceof RedfishError) {
    return error.status !== undefined ? `${error.message} (HTTP ${error.status})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
