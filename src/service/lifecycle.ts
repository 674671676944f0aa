import { isOneOf, unreachable } from '../common/unions.ts';
import {
  type ErrorType,
  FLOWS,
  type HostRecord,
  type HostState,
  type HostStep,
  type PowerAction,
  type Step,
  type StepOf,
} from './types.ts';

// The lifecycle's data (each state's steps, in order) is FLOWS in types.ts, beside the states it is keyed
// by, so that a host record's step can be typed from it; it is re-exported here with the rules that use it.
export { FLOWS, type HostStep, type Step } from './types.ts';

const NEXT_STATE: Partial<Record<HostState, HostState>> = {
  registering: 'inspecting',
  inspecting: 'available',
  provisioning: 'provisioned',
  deprovisioning: 'available',
};

/** Steps that work on the service's own files, without the BMC. */
export const LOCAL_STEPS = ['prepare-media', 'prepare-cleaning'] as const satisfies readonly Step[];

/** Steps that wait for the host to call back instead of acting on the BMC. */
export const CALLBACK_STEPS = ['installer', 'first-boot', 'cleaning'] as const satisfies readonly Step[];

/**
 * Callback steps whose boot the BMC is watched for when the host cannot call back (no-callbacks
 * provisioning). Cleaning always boots outpost's own wipe ISO, which calls back.
 */
export const WATCHED_STEPS = ['installer', 'first-boot'] as const satisfies readonly Step[];

/** The cleaning steps of deprovisioning, skipped for a host with `automatedCleaningMode: disabled`. */
export const CLEANING_STEPS: readonly StepOf<'deprovisioning'>[] = FLOWS.deprovisioning.slice(2);

/** A step the host's spec turns off: it succeeds at once, without acting. */
export function isSkipped(host: Pick<HostRecord, 'state' | 'step' | 'spec'>): boolean {
  return (
    host.state === 'deprovisioning' &&
    isOneOf(CLEANING_STEPS, host.step) &&
    host.spec.automatedCleaningMode === 'disabled'
  );
}

/** How often a host that cannot call back has its BMC asked whether it booted (no-callbacks provisioning). */
export const BOOT_POLL_MS = 5_000;

/**
 * A step failure that retrying cannot fix (a checksum mismatch, credentials the BMC refuses). The host
 * stops with it; the message says what the user has to do.
 */
export class PermanentStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentStepError';
  }
}

export const ERROR_TYPES: Record<HostState | 'power', ErrorType> = {
  registering: 'registration error',
  inspecting: 'inspection error',
  available: 'power management error',
  provisioning: 'provisioning error',
  provisioned: 'power management error',
  deprovisioning: 'deprovisioning error',
  power: 'power management error',
};

/** The steps of a state's flow, as a list of the union of all steps (to look a step up in it). */
function stepsOf(state: HostState): readonly Step[] {
  return FLOWS[state];
}

export function firstStep(state: HostState): HostStep {
  return stepsOf(state)[0] ?? '';
}

/** Where a host goes once its current step succeeded: the next step, or the first step of the next state. */
export function afterStep(state: HostState, step: HostStep): { state: HostState; step: HostStep } {
  const steps = stepsOf(state);
  const next = steps[stepIndex(state, step) + 1];
  if (next !== undefined) return { state, step: next };
  const nextState = NEXT_STATE[state] ?? state;
  return { state: nextState, step: firstStep(nextState) };
}

/** Steps of a state strictly before `step` — used when a callback shows the host is further than recorded. */
export function stepsBetween(state: HostState, from: string, to: string): Step[] {
  const steps = stepsOf(state);
  const a = stepIndex(state, from);
  const b = stepIndex(state, to);
  return a >= 0 && b > a ? steps.slice(a, b) : [];
}

/** Where `step` (a recorded step, or one a host reported) is in the state's flow; -1 when it is not in it. */
export function stepIndex(state: HostState, step: string): number {
  const steps = stepsOf(state);
  return isOneOf(steps, step) ? steps.indexOf(step) : -1;
}

export function isStable(state: HostState): boolean {
  return FLOWS[state].length === 0;
}

export interface Timing {
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long each callback step may wait before it counts as failed. */
  callbackTimeoutMs: number;
  /** How often the power state of a stable host is read again (Ironic's power sync: 60 s). */
  powerSyncMs: number;
}

export const DEFAULT_TIMING: Timing = {
  backoffBaseMs: 10_000,
  backoffMaxMs: 10 * 60_000,
  callbackTimeoutMs: 60 * 60_000,
  powerSyncMs: 60_000,
};

/** Exponential backoff like Metal3's: base * 2^(n-1), capped. */
export function backoffDelay(errorCount: number, timing: Timing): number {
  return Math.min(timing.backoffBaseMs * 2 ** Math.max(0, errorCount - 1), timing.backoffMaxMs);
}

export type Work =
  | { kind: 'step'; state: HostState; step: HostStep }
  | { kind: 'power'; action: PowerAction }
  | { kind: 'timeout'; state: HostState; step: Step }
  | { kind: 'refresh-power' }
  | { kind: 'none' };

/** What the reconciler should do for a host now; pure, so it is tested without a BMC. */
export function workFor(host: HostRecord, now: number, timing: Timing): Work {
  if (host.error?.permanent) return { kind: 'none' };
  if (host.error && host.error.nextAttemptAt > now) return { kind: 'none' };
  if (isStable(host.state)) {
    if (host.powerRequest) return { kind: 'power', action: host.powerRequest };
    // POWER shows what the BMC reports, also when the host was switched off behind the service's back.
    const checked = host.powerCheckedAt ?? host.updatedAt;
    return now - checked >= timing.powerSyncMs ? { kind: 'refresh-power' } : { kind: 'none' };
  }
  if (isOneOf(CALLBACK_STEPS, host.step) && !isSkipped(host)) {
    if (now - host.stepStartedAt > timing.callbackTimeoutMs)
      return { kind: 'timeout', state: host.state, step: host.step };
    // A host that cannot call back has its BMC watched instead (its installer and first boot only).
    if (host.provisioning?.callbacks !== false || !isOneOf(WATCHED_STEPS, host.step)) return { kind: 'none' };
  }
  return { kind: 'step', state: host.state, step: host.step };
}

/** What a user may ask of a host, each accepted in some states only (refuseAction). */
export type UserAction = 'provision' | 'deprovision' | 'power' | 'inspect' | 'delete';

/** Which states each user action is accepted in; the message says why not otherwise. */
export function refuseAction(action: UserAction, host: HostRecord): string | undefined {
  const s = host.state;
  const busy = (what: string) => `host ${host.name} is ${s}; ${what}`;
  switch (action) {
    case 'provision':
      return s === 'available' ? undefined : busy('only an available host can be provisioned');
    case 'deprovision':
      return s === 'provisioned' || s === 'provisioning'
        ? undefined
        : busy('only a provisioned or provisioning host can be deprovisioned');
    case 'power':
      return isStable(s) ? undefined : busy('wait until it is available or provisioned');
    case 'inspect':
      if (s === 'inspecting') {
        const attempt = host.error ? ` (attempt ${host.error.count} failed: ${host.error.message})` : '';
        return `host ${host.name} is already being inspected${attempt}; wait for it to finish`;
      }
      return s === 'available' || (s === 'registering' && host.error)
        ? undefined
        : busy('only an available host can be inspected');
    case 'delete':
      return s === 'provisioning' || s === 'provisioned' || s === 'deprovisioning'
        ? busy('deprovision it first, or delete it with --force')
        : undefined;
    default:
      return unreachable(action);
  }
}

/**
 * What a forced delete leaves behind on the host's BMC and server: the service forgets the host without
 * talking to the BMC (which may be the reason for the delete), so nothing there is undone.
 */
export function leftOnBmc(host: HostRecord): string[] {
  const left: string[] = [];
  if (host.state === 'provisioning' || host.state === 'provisioned' || host.state === 'deprovisioning') {
    left.push(`power state as it is (last seen: ${host.powerState ?? 'unknown'})`);
    const media = mediaLeftInserted(host);
    if (media) left.push(media);
    left.push('the boot override possibly still set to the virtual CD');
    left.push('whatever was installed on the disks');
  }
  if (host.powerRequest) left.push(`the power ${host.powerRequest} request not carried out`);
  if (host.step && left.length === 0) left.push(`the ${host.state} step '${host.step}' possibly half done`);
  return left;
}

/**
 * The virtual media a forced delete may leave in the BMC's slot. This host's own ISO (its installer, or
 * its cleaning ISO once cleaning has inserted it) is named by what it is, not by its URL: the URL is the
 * only key to the callback token inside, and the ISO is deleted with the host anyway.
 */
function mediaLeftInserted(host: HostRecord): string | undefined {
  const request = host.provisioning;
  if (!request) return undefined;
  const cleaningMediaIn = host.state === 'deprovisioning' && isOneOf(CLEANING_STEPS.slice(1), host.step);
  if (cleaningMediaIn)
    return "virtual media possibly still inserted: this host's cleaning ISO (deleted with the host)";
  if (request.installerIso)
    return "virtual media possibly still inserted: this host's installer ISO (deleted with the host)";
  return request.imageUrl ? `virtual media ${request.imageUrl} possibly still inserted` : undefined;
}
