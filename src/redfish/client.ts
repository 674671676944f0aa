import { setTimeout as sleep } from 'node:timers/promises';
import type { BmcAddress } from './bmc-address.ts';
import { readInventory } from './inventory.ts';
import { ejectAll, findCdSlots, insertInto } from './media.ts';
import { detectQuirks, type Quirks } from './quirks.ts';
import { getResource, patchWithEtag, postAction } from './requests.ts';
import { allowable, asObject, type Json, link, links, str } from './resource.ts';
import { authenticate, logout } from './session.ts';
import { errorFrom, isSuccess, RedfishTransport } from './transport.ts';
import {
  type BootTarget,
  type HardwareInventory,
  type PowerAction,
  type PowerState,
  RedfishError,
  type RedfishEvent,
} from './types.ts';

export type { BmcAddress } from './bmc-address.ts';
export type { Quirks } from './quirks.ts';
export type { BootTarget, HardwareInventory, PowerAction, PowerState, RedfishEvent } from './types.ts';
export { RedfishError } from './types.ts';

export interface RedfishConnectOptions {
  address: BmcAddress;
  username: string;
  password: string;
  disableCertificateVerification?: boolean;
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
    if (state === 'On' || state === 'Off' || state === 'PoweringOn' || state === 'PoweringOff') return state;
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

  /** Boots the given device on the next power-on only. */
  async setBootOnce(target: BootTarget): Promise<void> {
    const system = await this.system();
    const boot = asObject(system.Boot);
    if (!boot) throw new RedfishError(`${this.systemPath} has no Boot property (is the address a System?)`);
    const allowed = allowable(boot, 'BootSourceOverrideTarget');
    let wanted: string = target === 'Cd' ? this.quirks.cdBootTarget : target;
    if (allowed && !allowed.includes(wanted)) {
      if (wanted === 'UsbCd' && allowed.includes('Cd')) wanted = 'Cd';
      else
        throw new RedfishError(
          `boot override: the BMC does not allow target ${wanted} (allowed: ${allowed.join(', ')})`,
        );
    }
    const patch: Json = { BootSourceOverrideTarget: wanted };
    if (this.quirks.alwaysSendBootEnabled || str(boot.BootSourceOverrideEnabled) !== 'Once')
      patch.BootSourceOverrideEnabled = 'Once';
    await patchWithEtag(this.transport, this.systemPath, { Boot: patch }, `boot override ${wanted} once`);
    const after = asObject((await this.system()).Boot);
    if (str(after?.BootSourceOverrideTarget) !== wanted || str(after?.BootSourceOverrideEnabled) !== 'Once') {
      throw new RedfishError(
        `boot override: asked for ${wanted}/Once, the BMC reports ${str(after?.BootSourceOverrideTarget)}/${str(after?.BootSourceOverrideEnabled)}`,
        { retriable: true },
      );
    }
    this.transport.emit({ type: 'boot', message: `boot override ${wanted} once` });
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
