import { formatBytes } from '../common/units.ts';
import type { CredentialsFile } from './credentials.ts';
import { type BmcDriver, type BmcSession, describeBmcError, isRefusedCredentials } from './driver.ts';
import type { HostMedia } from './host-media.ts';
import { BOOT_POLL_MS, LOCAL_STEPS, PermanentStepError, type Timing, workFor } from './lifecycle.ts';
import type { Store } from './store.ts';
import type { Transitions } from './transitions.ts';
import type { HostRecord, PowerAction } from './types.ts';

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

/** A step's result; `waiting` means "not yet" (a boot the BMC has not reported): run it again later. */
type Outcome = { patch: Partial<HostRecord>; message: string; waiting?: boolean };
type Failure = { message: string; permanent: boolean };

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
    const signal = this.abort.signal;
    if (LOCAL_STEPS.includes(host.step)) {
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
            const [state, step] = host.step
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
      // After an abort the BMC may never answer a logout either: do not wait for it.
      const closing = session?.close().catch(() => {});
      if (!signal.aborted) await closing;
    }
    if (signal.aborted) return;
    this.commit(host, outcome, failure);
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
      const reason = action === 'on' ? 'PowerOn' : action === 'off' ? 'PowerOff' : 'Rebooted';
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
        const cpu = hardware.cpu ? `${hardware.cpu.count} CPU(s)` : 'no CPU data';
        const message = `inspected: ${hardware.systemVendor?.manufacturer ?? '?'} ${hardware.systemVendor?.productName ?? ''}, ${cpu}, ${hardware.ramMebibytes !== undefined ? formatBytes(hardware.ramMebibytes * 2 ** 20) : '? MiB'}, ${hardware.nics?.length ?? 0} NIC(s), ${hardware.storage?.length ?? 0} disk(s)`;
        return { patch: { hardware: { ...hardware } }, message };
      }
      case 'power-off':
        if ((await bmc.powerState()) !== 'Off') {
          await bmc.power('off');
          return { patch: { powerState: 'Off' }, message: 'powered off' };
        }
        return { patch: { powerState: 'Off' }, message: 'already off' };
      case 'insert-media': {
        const url = host.provisioning?.imageUrl;
        if (!url)
          throw new Error('no image to insert (provisioning request lost); deprovision and provision again');
        await bmc.insertMedia(url);
        // The per-host ISO's URL is a secret (it leads to the callback token): never logged.
        const shown = host.provisioning?.installerIso ? "this host's installer ISO" : url;
        return { patch: {}, message: `inserted ${shown}` };
      }
      case 'boot-once':
        await bmc.setBootOnce('Cd');
        return { patch: {}, message: 'next boot from virtual CD, once' };
      case 'power-on': {
        const state = await bmc.powerState();
        if (state === 'On' || state === 'PoweringOn')
          return { patch: { powerState: 'On' }, message: 'already on' };
        await bmc.power('on');
        return { patch: { powerState: 'On' }, message: 'powered on' };
      }
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
      default:
        throw new Error(`internal: no executor for step '${host.step}' in state ${host.state}`);
    }
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
