import { isOneOf, unreachable } from '../common/unions.ts';
import { formatBytes } from '../common/units.ts';
import type { CredentialsFile } from './credentials.ts';
import { type BmcDriver, type BmcSession, describeBmcError, isRefusedCredentials } from './driver.ts';
import type { HostMedia } from './host-media.ts';
import {
  BOOT_POLL_MS,
  isSkipped,
  LOCAL_STEPS,
  PermanentStepError,
  type Timing,
  workFor,
} from './lifecycle.ts';
import type { Store } from './store.ts';
import type { Transitions } from './transitions.ts';
import type { HostRecord, Operation, OperationStep, PowerAction, Step } from './types.ts';

export interface ReconcilerOptions {
  store: Store;
  transitions: Transitions;
  credentials: CredentialsFile;
  driver: BmcDriver;
  timing: Timing;
  /** Hosts worked on at once (each holds one BMC session). */
  concurrency: number;
  /** How often to look for due work when nothing kicks the loop. */
  intervalMs?: number;
  /** Builds and removes per-host installer ISOs. */
  hostMedia: HostMedia;
  /** Where unexpected internal errors go (the host is retried at the next tick). */
  log?: (line: string) => void;
}

/**
 * A step's result; `waiting` means "not yet" (a boot the BMC has not reported): run it again later.
 * `warnings` are what the BMC did not do as asked but the step carried on from.
 */
type Outcome = { patch: Partial<HostRecord>; message: string; waiting?: boolean; warnings?: string[] };
type Failure = { message: string; permanent: boolean };

/** Event reason of a finished power action. */
const POWER_REASONS: Record<PowerAction, string> = { on: 'PowerOn', off: 'PowerOff', reboot: 'Rebooted' };

/** Event reason of the BMC warnings a step can meet. */
const WARNING_REASONS: Partial<Record<Step, string>> = {
  inspect: 'InspectionIncomplete',
  'boot-once': 'BootOverrideChanged',
  'boot-disk': 'BootOverrideChanged',
  'boot-cleaning': 'BootOverrideChanged',
};

/**
 * The reconcile loop: picks hosts with due work and runs one step each, at most `concurrency` at a time.
 * A step's result is saved only if the host is still where the step started (a user may have moved it).
 */
export class Reconciler {
  private readonly o: ReconcilerOptions;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Hosts whose step said "not yet", and when to look again. */
  private readonly pollAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  /** Aborted at stop(): steps waiting on a BMC give up at once and are run again after the restart. */
  private abort = new AbortController();

  constructor(options: ReconcilerOptions) {
    this.o = options;
  }

  start(): void {
    this.stopped = false;
    this.abort = new AbortController();
    this.schedule(0);
  }

  /** Look for work now (after an API change or a callback). */
  kick(): void {
    if (!this.stopped) this.schedule(0);
  }

  /**
   * Stops picking work, aborts the steps under way (a BMC that does not answer must not hold up a shutdown)
   * and waits for them to let go, at most `graceMs`. Nothing of an aborted step is saved: steps check before
   * they act, so each is simply run again at the next start.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort(new Error('the service is stopping'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight.values()]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
  }

  get busy(): number {
    return this.inFlight.size;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), delayMs);
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    const { timing, concurrency } = this.o;
    for (const host of this.o.store.listHosts()) {
      if (this.inFlight.size >= concurrency) break;
      if (this.inFlight.has(host.name)) continue;
      if ((this.pollAt.get(host.name) ?? 0) > now) continue;
      const work = workFor(host, now, timing);
      if (work.kind === 'none') continue;
      if (work.kind === 'timeout') {
        const minutes = Math.round(timing.callbackTimeoutMs / 60_000);
        this.o.transitions.stepFailed(
          host,
          `no '${work.step}' callback from the host within ${minutes} min`,
          timing,
          {
            restartStep: 'power-off',
          },
        );
        continue;
      }
      const run = this.run(host)
        .catch((error: unknown) => {
          // After stop() the store may be closed under a step that outlived the grace period: nothing to save.
          if (!this.stopped) this.o.log?.(`internal error while working on ${host.name}: ${String(error)}`);
        })
        .finally(() => {
          this.inFlight.delete(host.name);
          this.kick();
        });
      this.inFlight.set(host.name, run);
    }
    this.schedule(this.o.intervalMs ?? 500);
  }

  private async run(host: HostRecord): Promise<void> {
    if (isSkipped(host)) {
      this.commit(host, { patch: {}, message: 'skipped: automatedCleaningMode is disabled' }, undefined);
      return;
    }
    const signal = this.abort.signal;
    if (isOneOf(LOCAL_STEPS, host.step)) {
      let outcome: Outcome | undefined;
      let failure: Failure | undefined;
      try {
        outcome = await untilAborted(this.executeLocal(host), signal);
      } catch (error) {
        failure = {
          message: error instanceof Error ? error.message : String(error),
          permanent: error instanceof PermanentStepError,
        };
      }
      if (signal.aborted) return;
      this.commit(host, outcome, failure);
      return;
    }
    const credentials = this.o.credentials.get(host.name);
    if (!credentials) {
      this.o.transitions.stepFailed(
        host,
        'no BMC credentials stored for this host; import it again (outpost hosts import)',
        this.o.timing,
        { permanent: true },
      );
      return;
    }
    const { store, transitions } = this.o;
    const scrub = (text: string) => text.split(credentials.password).join('***');
    let session: BmcSession | undefined;
    let outcome: Outcome | undefined;
    let failure: Failure | undefined;
    let warnings: string[] = [];
    try {
      session = await untilAborted(
        this.o.driver.connect({
          address: host.spec.bmc.address,
          credentials,
          disableCertificateVerification: host.spec.bmc.disableCertificateVerification,
          signal,
          // Each retry shows as it happens: an event, and the message of the running step in the timeline.
          onRetry: (attempt, attempts, reason) => {
            if (signal.aborted) return;
            const message = scrub(`retrying ${attempt}/${attempts}: ${reason}`);
            const [state, step]: [Operation['state'], OperationStep] = host.step
              ? [host.state, host.step]
              : ['power' as const, host.powerRequest ?? ''];
            store.noteOperation(host.name, state, step, message);
            transitions.event(host.name, 'Warning', 'Retrying', message);
          },
        }),
        signal,
      );
      outcome = await untilAborted(this.execute(host, session), signal);
    } catch (error) {
      // Redfish errors never carry credentials, but a BMC might echo them back: scrub anyway.
      const message = scrub(describeBmcError(error));
      if (isRefusedCredentials(error))
        failure = {
          message: `${message}: the BMC refuses the credentials; fix them in the inventory and run outpost hosts import again`,
          permanent: true,
        };
      else failure = { message, permanent: error instanceof PermanentStepError };
    } finally {
      warnings = [...(session?.takeWarnings() ?? []), ...(outcome?.warnings ?? [])];
      // After an abort the BMC may never answer a logout either: do not wait for it.
      const closing = session?.close().catch(() => {});
      if (!signal.aborted) await closing;
    }
    if (signal.aborted) return;
    this.recordWarnings(host, warnings.map(scrub));
    this.commit(host, outcome, failure);
  }

  /** What the BMC did not do as asked but the step carried on from: one Warning event each. */
  private recordWarnings(host: HostRecord, warnings: string[]): void {
    if (warnings.length === 0 || this.o.store.getHost(host.name)?.id !== host.id) return;
    const reason = (host.step ? WARNING_REASONS[host.step] : undefined) ?? 'BmcWarning';
    for (const warning of new Set(warnings)) this.o.transitions.event(host.name, 'Warning', reason, warning);
  }

  private commit(started: HostRecord, outcome: Outcome | undefined, failure: Failure | undefined): void {
    const host = this.o.store.getHost(started.name);
    if (!host || host.id !== started.id || host.state !== started.state || host.step !== started.step) return;
    if (!host.step && host.powerRequest !== started.powerRequest) return;
    const { transitions, timing } = this.o;
    if (failure !== undefined) {
      transitions.stepFailed(host, failure.message, timing, { permanent: failure.permanent });
      return;
    }
    if (!outcome) return;
    if (outcome.waiting) {
      this.pollAt.set(host.name, Date.now() + BOOT_POLL_MS);
      if (Object.keys(outcome.patch).length) transitions.save({ ...host, ...outcome.patch });
      return;
    }
    this.pollAt.delete(host.name);
    if (!host.step && host.powerRequest) this.finishPower(host, host.powerRequest, outcome);
    else if (!host.step) this.finishPowerSync(host, outcome);
    else transitions.stepSucceeded(host, outcome.patch, outcome.message);
  }

  private finishPower(host: HostRecord, action: PowerAction, outcome: Outcome): void {
    const { store, transitions } = this.o;
    store.transaction(() => {
      store.endOperation(host.name, 'power', action, 'succeeded', outcome.message);
      const { powerRequest: _done, error: _cleared, ...rest } = host;
      transitions.save({ ...rest, ...outcome.patch });
      const reason = POWER_REASONS[action];
      transitions.event(host.name, 'Normal', reason, outcome.message);
    });
  }

  /** A power sync: saved quietly, with an event only when the power state changed or an error cleared. */
  private finishPowerSync(host: HostRecord, outcome: Outcome): void {
    const { error, ...rest } = host;
    const next = { ...rest, ...outcome.patch };
    const changed = next.powerState !== host.powerState;
    this.o.transitions.save(
      next,
      changed || error
        ? {
            level: 'Normal',
            reason: 'PowerStateSynced',
            message: `${outcome.message} (online: ${host.spec.online})`,
          }
        : undefined,
    );
  }

  /** Runs a step that needs no BMC. */
  private async executeLocal(host: HostRecord): Promise<Outcome> {
    if (host.step === 'prepare-cleaning') {
      const { message, callbackTokenHash, installerIso } = await this.o.hostMedia.prepareWipe(host);
      // The cleaning ISO takes the provisioning ISO's place: served while deprovisioning, removed at the eject.
      const provisioning = { image: '', imageUrl: '', ...host.provisioning, installerIso };
      return { patch: { callbackTokenHash, provisioning }, message };
    }
    const image = host.provisioning?.installerImage;
    if (!image)
      return { patch: {}, message: `inserting ${host.provisioning?.image ?? 'the image'} as it is` };
    return { patch: {}, message: await this.o.hostMedia.prepare(host, image) };
  }

  /** Runs the host's current step against its BMC. Each step checks before it acts, so it can be re-run. */
  private async execute(host: HostRecord, bmc: BmcSession): Promise<Outcome> {
    if (!host.step && host.powerRequest) return this.executePower(host, host.powerRequest, bmc);
    if (!host.step) {
      const powerState = await bmc.powerState();
      return {
        patch: { powerState, powerCheckedAt: Date.now() },
        message: `the BMC reports power ${powerState}`,
      };
    }
    switch (host.step) {
      case 'connect':
        return { patch: { powerState: await bmc.powerState() }, message: 'BMC credentials accepted' };
      case 'inspect': {
        const hardware = await bmc.inspect();
        const cpu = hardware.cpu ? `${hardware.cpu.count} CPU(s)` : 'CPUs unknown';
        const ram =
          hardware.ramMebibytes !== undefined
            ? formatBytes(hardware.ramMebibytes * 2 ** 20)
            : 'memory unknown';
        const disks = hardware.storage ? `${hardware.storage.length} disk(s)` : 'disks unknown';
        const message = `inspected: ${hardware.systemVendor?.manufacturer || '?'} ${hardware.systemVendor?.productName ?? ''}, ${cpu}, ${ram}, ${hardware.nics?.length ?? 0} NIC(s), ${disks}`;
        return { patch: { hardware: { ...hardware } }, message };
      }
      case 'power-off':
        return this.powerOff(bmc);
      case 'insert-media': {
        const url = host.provisioning?.imageUrl;
        if (!url)
          throw new Error('no image to insert (provisioning request lost); deprovision and provision again');
        await bmc.insertMedia(url);
        // The per-host ISO's URL is a secret (it leads to the callback token): never logged.
        const shown = host.provisioning?.installerIso ? "this host's installer ISO" : url;
        return { patch: {}, message: `inserted ${shown}` };
      }
      case 'boot-once': {
        const kept = await bmc.setBootOnce('Cd');
        // Without callbacks only the used one-time override tells that the installer started, and a
        // Continuous CD would have boot-disk cut the installer short.
        if (kept !== 'Once' && host.provisioning?.callbacks === false)
          throw new PermanentStepError(
            'the BMC does not keep a one-time boot override (it kept Continuous), so without callbacks nothing tells when the installer has finished; provision with an image that calls back (a raw image from outpost build)',
          );
        return {
          patch: {},
          message:
            kept === 'Once'
              ? 'next boot from virtual CD, once'
              : 'boot from virtual CD, Continuous (the BMC does not keep Once): the disk is set back after installation',
        };
      }
      case 'boot-disk':
        return this.bootDisk(bmc);
      case 'insert-cleaning-media': {
        const iso = host.provisioning?.installerIso;
        if (!host.mediaBaseUrl || !iso)
          throw new Error('no cleaning ISO recorded; deprovision the host again');
        await bmc.insertMedia(`${host.mediaBaseUrl}${iso}`);
        // Its URL is a secret (it leads to the callback token): never logged.
        return { patch: {}, message: "inserted this host's cleaning ISO" };
      }
      case 'boot-cleaning': {
        const kept = await bmc.setBootOnce('Cd');
        return { patch: {}, message: `next boot from the cleaning ISO (${kept})` };
      }
      case 'power-on-cleaning':
        return this.powerOn(bmc);
      case 'power-off-cleaned': {
        const outcome = await this.powerOff(bmc);
        // A BMC that kept the CD as a Continuous boot device would boot the cleaning ISO again.
        const override = await bmc.bootOverride();
        if (override.enabled === 'Continuous' && /Cd$/i.test(override.target)) {
          await bmc.setBootDisk();
          return { ...outcome, message: `${outcome.message}; boot device set back to the disk` };
        }
        return outcome;
      }
      case 'eject-cleaning-media':
        await bmc.ejectMedia();
        await this.o.hostMedia.remove(host);
        return {
          patch: { callbackTokenHash: undefined, mediaBaseUrl: undefined },
          message: 'cleaning ISO ejected; disks cleaned',
        };
      case 'power-on':
        return this.powerOn(bmc);
      case 'installer':
        return this.watchCdBoot(host, bmc);
      case 'first-boot':
        return this.watchDiskBoot(host, bmc);
      case 'eject-media':
        await bmc.ejectMedia();
        // The per-host ISO carries the host's callback token: it goes once the BMC no longer needs it.
        await this.o.hostMedia.remove(host);
        // Deprovisioned: the host leaves its consumer and image behind.
        return {
          patch: host.state === 'deprovisioning' ? { provisioning: undefined } : {},
          message: 'virtual media ejected',
        };
      // Run without the BMC (executeLocal), or waited for: the host calls back.
      case 'prepare-media':
      case 'prepare-cleaning':
      case 'cleaning':
        throw new Error(`internal: no executor for step '${host.step}' in state ${host.state}`);
      default:
        return unreachable(host.step, `no executor for step '${String(host.step)}' in state ${host.state}`);
    }
  }

  private async powerOff(bmc: BmcSession): Promise<Outcome> {
    if ((await bmc.powerState()) !== 'Off') {
      await bmc.power('off');
      return { patch: { powerState: 'Off' }, message: 'powered off' };
    }
    return { patch: { powerState: 'Off' }, message: 'already off' };
  }

  private async powerOn(bmc: BmcSession): Promise<Outcome> {
    const state = await bmc.powerState();
    if (state === 'On' || state === 'PoweringOn')
      return { patch: { powerState: 'On' }, message: 'already on' };
    await bmc.power('on');
    return { patch: { powerState: 'On' }, message: 'powered on' };
  }

  /**
   * After the installer: a host whose BMC kept the CD as a Continuous boot device would install again at
   * every boot. Like Ironic at the end of a deploy, power it off, make the disk the boot device, power on.
   * Re-runnable: a host left off with the disk already set is only powered on.
   */
  private async bootDisk(bmc: BmcSession): Promise<Outcome> {
    const override = await bmc.bootOverride();
    const continuousCd = override.enabled === 'Continuous' && /Cd$/i.test(override.target);
    if (!continuousCd) {
      if (
        override.enabled === 'Continuous' &&
        override.target === 'Hdd' &&
        (await bmc.powerState()) === 'Off'
      ) {
        await bmc.power('on');
        return { patch: { powerState: 'On' }, message: 'boot device is the disk; powered on' };
      }
      return {
        patch: {},
        message: `boot override ${override.target}/${override.enabled}: the host boots its disk`,
      };
    }
    await bmc.power('off');
    await bmc.setBootDisk();
    await bmc.power('on');
    return {
      patch: { powerState: 'On' },
      message: 'powered off, boot device set to Hdd (Continuous), powered on',
      warnings: [
        `the BMC kept ${override.target}/Continuous after the installer: powered off, set the boot device back to the disk (Hdd, Continuous) and powered on`,
      ],
    };
  }

  /**
   * No callbacks (an ISO inserted as it is): the installer is under way once the firmware has used the
   * one-time CD override. The BootProgress time seen then tells the next boot (from disk) apart.
   */
  private async watchCdBoot(host: HostRecord, bmc: BmcSession): Promise<Outcome> {
    const boot = await bmc.bootStatus();
    if (boot.overrideEnabled === 'Once')
      return { patch: {}, message: 'waiting for the CD boot', waiting: true };
    const seen = boot.lastStateTime ?? new Date().toISOString();
    return {
      patch: { provisioning: { ...host.provisioning!, cdBootSeenAt: seen } },
      message: `the BMC reports the one-time CD boot used (BootProgress ${boot.lastState ?? 'not reported'})`,
    };
  }

  /** No callbacks: provisioned once the BMC reports a later boot (the override is gone, so from disk). */
  private async watchDiskBoot(host: HostRecord, bmc: BmcSession): Promise<Outcome> {
    const boot = await bmc.bootStatus();
    if (boot.lastStateTime === undefined)
      throw new PermanentStepError(
        'the BMC does not report BootProgress, so without callbacks nothing tells when the host booted from disk; provision with an image that calls back (a raw image from outpost build)',
      );
    const since = host.provisioning?.cdBootSeenAt ?? '';
    const booted = ['OSBootStarted', 'OSRunning'].includes(boot.lastState ?? '');
    if (!booted || Date.parse(boot.lastStateTime) <= Date.parse(since))
      return { patch: {}, message: 'waiting for the boot from disk', waiting: true };
    return {
      patch: {},
      message: `the BMC reports a boot from disk at ${boot.lastStateTime} (BootProgress ${boot.lastState})`,
    };
  }

  private async executePower(host: HostRecord, action: PowerAction, bmc: BmcSession): Promise<Outcome> {
    const online = action !== 'off';
    const spec = { ...host.spec, online };
    const current = await bmc.powerState();
    if (action === 'reboot') {
      // Rebooting a host that is off means turning it on (as Ironic does).
      await bmc.power(current === 'Off' ? 'on' : 'reboot');
      return {
        patch: { powerState: 'On', spec },
        message: current === 'Off' ? 'was off: powered on' : 'rebooted',
      };
    }
    const target = action === 'on' ? 'On' : 'Off';
    if (current !== target) await bmc.power(action);
    return {
      patch: { powerState: target, spec },
      message: current === target ? `already ${target.toLowerCase()}` : `powered ${target.toLowerCase()}`,
    };
  }
}

/** `work`, or a rejection as soon as `signal` aborts (the work itself is left to the process's exit). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
