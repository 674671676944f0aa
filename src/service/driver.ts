import { parseBmcAddress } from '../redfish/bmc-address.ts';
import { type BootStatus, RedfishClient, RedfishError } from '../redfish/client.ts';
import type { BootTarget, HardwareInventory, PowerAction, PowerState } from '../redfish/types.ts';
import { observeRedfish } from './metrics.ts';
import type { Credentials } from './types.ts';

/** What the lifecycle needs from a BMC; the Redfish details stay in src/redfish. */
export interface BmcSession {
  inspect(): Promise<HardwareInventory>;
  powerState(): Promise<PowerState>;
  power(action: PowerAction): Promise<void>;
  insertMedia(url: string): Promise<void>;
  ejectMedia(): Promise<void>;
  setBootOnce(target: BootTarget): Promise<void>;
  bootStatus(): Promise<BootStatus>;
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
      return observeRedfish((onEvent) =>
        RedfishClient.connect({
          address: parsed.value,
          username: target.credentials.username,
          password: target.credentials.password,
          disableCertificateVerification: target.disableCertificateVerification,
          ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
          ...(opts.retry !== undefined && { retry: opts.retry }),
          ...(opts.powerTimeoutMs !== undefined && { powerTimeoutMs: opts.powerTimeoutMs }),
          ...(target.signal && { signal: target.signal }),
          onEvent: (event) => {
            onEvent(event);
            // The transport reports `<reason>; retry <failed attempt> in <ms> ms` before it tries again.
            const retry = event.type === 'retry' ? /^(.*); retry (\d+) in \d+ ms$/.exec(event.message) : null;
            if (retry) target.onRetry?.(Number(retry[2]) + 1, attempts, retry[1]!);
          },
        }),
      );
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
