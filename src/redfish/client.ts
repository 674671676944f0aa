import { setTimeout as sleep } from 'node:timers/promises';
import { isOneOf } from '../common/unions.ts';
import type { BmcAddress } from './bmc-address.ts';
import { readInventory } from './inventory.ts';
import { ejectAll, findCdSlots, insertInto } from './media.ts';
import { detectQuirks, type Quirks } from './quirks.ts';
import { getResource, patchWithEtag, postAction } from './requests.ts';
import { allowable, asObject, type Json, link, links, str } from './resource.ts';
import { authenticate, logout } from './session.ts';
import { errorFrom, isSuccess, RedfishTransport } from './transport.ts';
import {
  type BootOverrideMode,
  type BootTarget,
  type HardwareInventory,
  POWER_STATES,
  type PowerAction,
  type PowerState,
  RedfishError,
  type RedfishEvent,
} from './types.ts';

export type { BmcAddress } from './bmc-address.ts';
export type { Quirks } from './quirks.ts';
export type {
  BootOverrideMode,
  BootTarget,
  HardwareInventory,
  PowerAction,
  PowerState,
  RedfishEvent,
} from './types.ts';
export { RedfishError } from './types.ts';

export interface RedfishConnectOptions {
  address: BmcAddress;
  username: string;
  password: string;
  disableCertificateVerification?: boolean;
  /** PEM CA certificates that verify the BMC's certificate, instead of the system's CAs. */
  caCertificates?: string;
  /** Per request (default 60 s, like Ironic). */
  timeoutMs?: number;
  /** Connection errors, timeouts, GET 5xx and busy answers (default 10 × 3 s, like sushy). */
  retry?: { attempts: number; delayMs: number };
  /** How long to wait for PowerState to reach its target (default 60 s; soft-off waits 10× longer). */
  powerTimeoutMs?: number;
  /** Never receives credentials. */
  onEvent?: (e: RedfishEvent) => void;
  /** Cancels the request under way and every later one (e.g. when the service stops). */
  signal?: AbortSignal;
}

export interface BootStatus {
  /** BootSourceOverrideEnabled: `Once` until the firmware has used the one-time override. */
  overrideEnabled: string;
  /** BootProgress.LastState, e.g. `OSBootStarted`, `OSRunning`. */
  lastState?: string;
  /** BootProgress.LastStateTime: when LastState was reached. */
  lastStateTime?: string;
}

const RESET_TYPES: Record<PowerAction, { resetType: string; target: 'On' | 'Off' }> = {
  on: { resetType: 'On', target: 'On' },
  off: { resetType: 'ForceOff', target: 'Off' },
  'soft-off': { resetType: 'GracefulShutdown', target: 'Off' },
  reboot: { resetType: 'ForceRestart', target: 'On' },
};

/**
 * A logged-in connection to one BMC and its one System. Call close() to delete the session.
 */
export class RedfishClient {
  readonly quirks: Quirks;
  readonly systemPath: string;
  private readonly transport: RedfishTransport;
  private readonly managerPaths: string[];
  private readonly powerTimeoutMs: number;

  private constructor(
    transport: RedfishTransport,
    systemPath: string,
    managerPaths: string[],
    quirks: Quirks,
    powerTimeoutMs: number,
  ) {
    this.transport = transport;
    this.systemPath = systemPath;
    this.managerPaths = managerPaths;
    this.quirks = quirks;
    this.powerTimeoutMs = powerTimeoutMs;
  }

  /** Logs in (session, else Basic), finds the System and its Managers, and checks the credentials work. */
  static async connect(o: RedfishConnectOptions): Promise<RedfishClient> {
    const transport = new RedfishTransport({
      baseUrl: o.address.baseUrl,
      rejectUnauthorized: o.disableCertificateVerification !== true,
      ...(o.caCertificates !== undefined && { ca: o.caCertificates }),
      timeoutMs: o.timeoutMs ?? 60_000,
      retry: o.retry ?? { attempts: 10, delayMs: 3000 },
      taskTimeoutMs: 15 * 60_000,
      onEvent: o.onEvent ?? (() => {}),
      ...(o.signal && { signal: o.signal }),
    });
    try {
      // The service root is readable without credentials on every Redfish service.
      const rootResponse = await transport.get('/redfish/v1/', { authenticate: false });
      if (!isSuccess(rootResponse) || !rootResponse.body)
        throw errorFrom('GET /redfish/v1/ (service root)', rootResponse);
      const root = rootResponse.body;
      const sessions =
        str(asObject(asObject(root.Links)?.Sessions)?.['@odata.id']) ?? '/redfish/v1/SessionService/Sessions';
      await authenticate(transport, sessions, o.username, o.password);

      const systemPath = o.address.systemPath ?? (await onlySystem(transport, root));
      const system = (await getResource(transport, systemPath)).body;
      let managerPaths = links(asObject(system.Links)?.ManagedBy);
      if (managerPaths.length === 0) managerPaths = links(asObject(system.Links)?.Managers);
      if (managerPaths.length === 0 && link(root, 'Managers')) {
        managerPaths = links((await getResource(transport, link(root, 'Managers')!)).body.Members);
      }
      const managers = await Promise.all(
        managerPaths.map(async (p) => (await getResource(transport, p)).body),
      );
      const quirks = detectQuirks(
        { manufacturer: str(system.Manufacturer) ?? '', model: str(system.Model) ?? '' },
        managers.map((m) => str(m.FirmwareVersion)).find((v) => v) ?? '',
      );
      if (quirks.vendor !== 'generic')
        transport.emit({ type: 'quirk', message: `vendor quirks: ${quirks.vendor}` });
      for (const warning of quirks.warnings) transport.emit({ type: 'quirk', message: warning });
      return new RedfishClient(transport, systemPath, managerPaths, quirks, o.powerTimeoutMs ?? 60_000);
    } catch (error) {
      await logout(transport);
      transport.close();
      throw error;
    }
  }

  async inspect(): Promise<HardwareInventory> {
    return readInventory(this.transport, await this.system(), await this.managers());
  }

  async powerState(): Promise<PowerState> {
    const state = str((await this.system()).PowerState);
    if (isOneOf(POWER_STATES, state)) return state;
    // Paused/Reset and other transitional values: treat as on, Redfish has no better mapping.
    return 'On';
  }

  /**
   * Sends ComputerSystem.Reset and polls PowerState until it reaches the target. A 400/409 while the
   * System is already in the target state counts as success.
   */
  async power(action: PowerAction): Promise<void> {
    const system = await this.system();
    const { resetType, target } = RESET_TYPES[action];
    const actionObject = asObject(asObject(system.Actions)?.['#ComputerSystem.Reset']);
    const resetTarget = str(actionObject?.target);
    if (!resetTarget) throw new RedfishError(`${this.systemPath} has no #ComputerSystem.Reset action`);
    const allowed = allowable(actionObject, 'ResetType');
    if (action !== 'reboot' && str(system.PowerState) === target) {
      this.transport.emit({ type: 'power', message: `already ${target}` });
      return;
    }
    if (action === 'reboot' && str(system.PowerState) === 'Off') {
      // Nothing to restart: a reboot of a powered-off server is a power-on (as Ironic does).
      await this.power('on');
      return;
    }
    if (action === 'reboot' && allowed && !allowed.includes(resetType)) {
      // No ForceRestart: power-cycle instead.
      await this.power('off');
      await this.power('on');
      return;
    }
    let type = resetType;
    if (allowed && !allowed.includes(type)) {
      const alternative = action === 'on' ? 'ForceOn' : action === 'off' ? 'GracefulShutdown' : undefined;
      if (!alternative || !allowed.includes(alternative)) {
        throw new RedfishError(
          `power ${action}: the BMC does not allow ResetType ${type} (allowed: ${allowed.join(', ')})`,
        );
      }
      type = alternative;
    }
    const response = await postAction(this.transport, resetTarget, { ResetType: type });
    if (!isSuccess(response)) {
      const inTarget =
        (response.status === 400 || response.status === 409) &&
        action !== 'reboot' &&
        (await this.powerState()) === target;
      if (!inTarget) throw errorFrom(`power ${action} (ResetType ${type})`, response);
    }
    this.transport.emit({
      type: 'power',
      message: `ResetType ${type} sent; waiting for PowerState ${target}`,
    });
    await this.waitForPower(target, action === 'soft-off' ? this.powerTimeoutMs * 10 : this.powerTimeoutMs);
  }

  private async waitForPower(target: 'On' | 'Off', timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delay = 250;
    let state: PowerState = await this.powerState();
    while (state !== target && !(target === 'On' && state === 'PoweringOn')) {
      if (Date.now() > deadline) {
        throw new RedfishError(
          `PowerState is still ${state} ${Math.round(timeoutMs / 1000)} s after asking for ${target}`,
          { retriable: true },
        );
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
      state = await this.powerState();
    }
  }

  /** Ejects every CD, then inserts `url` into the first CD slot that accepts it. */
  async insertMedia(url: string): Promise<void> {
    const slots = await findCdSlots(this.transport, await this.system(), await this.managers());
    await ejectAll(this.transport, this.quirks, slots);
    await insertInto(this.transport, this.quirks, slots, url);
  }

  async ejectMedia(): Promise<void> {
    const slots = await findCdSlots(this.transport, await this.system(), await this.managers());
    await ejectAll(this.transport, this.quirks, slots);
  }

  /**
   * Boots `target` at the next power-on. Asks for `Once`; a BMC that refuses `Once` (not in its allowable
   * values, or a 400 naming it) gets `Continuous`, and one that reads back `Continuous` after a `Once` is
   * accepted — as Ironic does. Either is reported as a `warning` event, and the result says which the BMC
   * kept, so the caller sets the boot device back to the disk (setBootDisk) once the CD has done its work.
   */
  async setBootOnce(target: BootTarget): Promise<BootOverrideMode> {
    const system = await this.system();
    const boot = asObject(system.Boot);
    if (!boot) throw new RedfishError(`${this.systemPath} has no Boot property (is the address a System?)`);
    const wanted = this.allowedTarget(boot, target === 'Cd' ? this.quirks.cdBootTarget : target);
    const enabledValues = allowable(boot, 'BootSourceOverrideEnabled');
    let mode: BootOverrideMode = 'Once';
    if (enabledValues && !enabledValues.includes('Once') && enabledValues.includes('Continuous')) {
      mode = 'Continuous';
      this.warn(
        `the BMC does not offer a Once boot override (allowed: ${enabledValues.join(', ')}); using Continuous`,
      );
    }
    const patch: Json = { BootSourceOverrideTarget: wanted };
    if (
      this.quirks.alwaysSendBootEnabled ||
      mode !== 'Once' ||
      str(boot.BootSourceOverrideEnabled) !== 'Once'
    )
      patch.BootSourceOverrideEnabled = mode;
    try {
      await patchWithEtag(
        this.transport,
        this.systemPath,
        { Boot: patch },
        `boot override ${wanted} ${mode}`,
      );
    } catch (error) {
      const refusedOnce =
        mode === 'Once' &&
        error instanceof RedfishError &&
        error.status === 400 &&
        /BootSourceOverrideEnabled|\bOnce\b/.test(error.message);
      if (!refusedOnce) throw error;
      mode = 'Continuous';
      this.warn(`the BMC refused a Once boot override (${error.message}); using Continuous`);
      await patchWithEtag(
        this.transport,
        this.systemPath,
        { Boot: { BootSourceOverrideTarget: wanted, BootSourceOverrideEnabled: mode } },
        `boot override ${wanted} ${mode}`,
      );
    }
    const after = await this.bootOverride();
    if (after.target !== wanted || (after.enabled !== 'Once' && after.enabled !== 'Continuous')) {
      throw new RedfishError(
        `boot override: asked for ${wanted}/${mode}, the BMC reports ${after.target}/${after.enabled}`,
        { retriable: true },
      );
    }
    if (after.enabled !== mode) {
      this.warn(
        `boot override: asked for ${wanted}/${mode}, the BMC reports ${wanted}/${after.enabled}; accepted`,
      );
      mode = after.enabled as BootOverrideMode;
    }
    this.transport.emit({ type: 'boot', message: `boot override ${wanted} ${mode}` });
    return mode;
  }

  /** The System's current boot override as the BMC reports it. */
  async bootOverride(): Promise<{ enabled: string; target: string }> {
    const boot = asObject((await this.system()).Boot);
    return {
      enabled: str(boot?.BootSourceOverrideEnabled) ?? 'Disabled',
      target: str(boot?.BootSourceOverrideTarget) ?? 'None',
    };
  }

  /**
   * Makes the disk the persistent boot device (`Hdd`, `Continuous`), as Ironic does at the end of a deploy
   * whose boot override may still point at the CD.
   */
  async setBootDisk(): Promise<void> {
    const boot = asObject((await this.system()).Boot);
    if (!boot) throw new RedfishError(`${this.systemPath} has no Boot property (is the address a System?)`);
    const wanted = this.allowedTarget(boot, 'Hdd');
    await patchWithEtag(
      this.transport,
      this.systemPath,
      { Boot: { BootSourceOverrideTarget: wanted, BootSourceOverrideEnabled: 'Continuous' } },
      `boot override ${wanted} Continuous`,
    );
    const after = await this.bootOverride();
    if (after.target !== wanted) {
      throw new RedfishError(
        `boot override: asked for ${wanted}/Continuous, the BMC reports ${after.target}/${after.enabled}`,
        { retriable: true },
      );
    }
    this.transport.emit({ type: 'boot', message: `boot override ${wanted} ${after.enabled}` });
  }

  private allowedTarget(boot: Json, wanted: string): string {
    const allowed = allowable(boot, 'BootSourceOverrideTarget');
    if (!allowed || allowed.includes(wanted)) return wanted;
    if (wanted === 'UsbCd' && allowed.includes('Cd')) return 'Cd';
    throw new RedfishError(
      `boot override: the BMC does not allow target ${wanted} (allowed: ${allowed.join(', ')})`,
    );
  }

  private warn(message: string): void {
    this.transport.emit({ type: 'warning', message });
  }

  /**
   * What the BMC says about the last boot: whether a one-time override is still pending, and Redfish's
   * BootProgress (ComputerSystem v1_13) when the BMC reports it.
   */
  async bootStatus(): Promise<BootStatus> {
    const system = await this.system();
    const progress = asObject(system.BootProgress);
    const lastState = str(progress?.LastState);
    const lastStateTime = str(progress?.LastStateTime);
    return {
      overrideEnabled: str(asObject(system.Boot)?.BootSourceOverrideEnabled) ?? 'Disabled',
      ...(lastState !== undefined && { lastState }),
      ...(lastStateTime !== undefined && { lastStateTime }),
    };
  }

  /** Deletes the session. */
  async close(): Promise<void> {
    await logout(this.transport);
    this.transport.close();
  }

  private async system(): Promise<Json> {
    return (await getResource(this.transport, this.systemPath)).body;
  }

  private async managers(): Promise<Json[]> {
    const out: Json[] = [];
    for (const path of this.managerPaths) out.push((await getResource(this.transport, path)).body);
    return out;
  }
}

/** Without a System in the address, the BMC must have exactly one (as Ironic requires). */
async function onlySystem(t: RedfishTransport, root: Json): Promise<string> {
  const collection = link(root, 'Systems');
  if (!collection) throw new RedfishError('the service root has no Systems collection');
  const members = links((await getResource(t, collection)).body.Members);
  if (members.length !== 1) {
    throw new RedfishError(
      `the BMC has ${members.length} Systems; put the System's path in the address (…/redfish/v1/Systems/<id>)`,
    );
  }
  return members[0]!;
}
